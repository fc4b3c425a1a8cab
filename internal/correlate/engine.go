// Package correlate evaluates compiled rules over events and produces alerts.
package correlate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync/atomic"
	"text/template"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// Engine evaluates the current rule set. Swap replaces the set atomically so a
// reload never pauses evaluation.
type Engine struct {
	set atomic.Pointer[rule.Set]
	log *slog.Logger
	now func() time.Time
	// EvalErrors counts CEL runtime errors (e.g. a missing field): they are
	// non-matches, never crashes.
	EvalErrors atomic.Int64
}

// New returns an engine running set.
func New(set *rule.Set, log *slog.Logger) *Engine {
	e := &Engine{log: log, now: time.Now}
	e.set.Store(set)
	return e
}

// Swap installs a new rule set.
func (e *Engine) Swap(set *rule.Set) { e.set.Store(set) }

// Set returns the rule set in use.
func (e *Engine) Set() *rule.Set { return e.set.Load() }

// Process evaluates one event; drill selects the drill timeline.
func (e *Engine) Process(ev *event.Event, drill bool) ([]*alert.Alert, error) {
	set := e.set.Load()
	if set == nil || len(set.Rules) == 0 {
		return nil, nil
	}
	view, err := View(ev, drill)
	if err != nil {
		return nil, err
	}
	act := map[string]any{"event": view}
	var out []*alert.Alert
	for _, r := range set.Rules {
		ok, err := evalBool(r, act)
		if err != nil {
			e.EvalErrors.Add(1)
			e.log.Debug("rule evaluation error", "rule", r.Name, "event", ev.ID, "err", err)
			continue
		}
		if !ok {
			continue
		}
		a, err := e.fire(r, set.Version, ev, view, drill, act)
		if err != nil {
			e.EvalErrors.Add(1)
			e.log.Warn("rule could not build alert", "rule", r.Name, "event", ev.ID, "err", err)
			continue
		}
		out = append(out, a)
	}
	return out, nil
}

func evalBool(r *rule.Compiled, act map[string]any) (bool, error) {
	v, _, err := r.Match.Eval(act)
	if err != nil {
		return false, err
	}
	b, ok := v.Value().(bool)
	if !ok {
		return false, fmt.Errorf("match returned %T, not bool", v.Value())
	}
	return b, nil
}

func (e *Engine) fire(r *rule.Compiled, version string, ev *event.Event, view map[string]any, drill bool, act map[string]any) (*alert.Alert, error) {
	key := ev.ID // without group_by, every event is its own group
	if len(r.GroupBy) > 0 {
		parts := make([]string, len(r.GroupBy))
		for i, g := range r.GroupBy {
			v, _, err := g.Eval(act)
			if err != nil {
				return nil, fmt.Errorf("group_by %q: %w", r.Rule.GroupBy[i], err)
			}
			parts[i] = fmt.Sprint(v.Value())
		}
		key = strings.Join(parts, "/")
	}
	labels := map[string]string{"cluster": ev.Cluster, "node": ev.Node, "type": ev.Type}
	maps.Copy(labels, r.Labels)
	data := map[string]any{
		"event":  view,
		"events": []map[string]any{view},
		"key":    key,
		"count":  1,
		"labels": labels,
	}
	summary, err := render(r.Summary, data)
	if err != nil {
		return nil, err
	}
	details, err := render(r.Details, data)
	if err != nil {
		return nil, err
	}
	var ann map[string]string
	for k, t := range r.Annotated {
		s, err := render(t, data)
		if err != nil {
			return nil, err
		}
		if ann == nil {
			ann = map[string]string{}
		}
		ann[k] = s
	}
	fp := alert.Fingerprint(r.Name, key)
	return &alert.Alert{
		ID:           alert.MakeID(fp, ev.Time, alert.Firing),
		Fingerprint:  fp,
		Rule:         r.Name,
		Severity:     r.Severity,
		State:        alert.Firing,
		Labels:       labels,
		Annotations:  ann,
		Summary:      summary,
		Details:      details,
		GroupKey:     key,
		Receivers:    r.Receivers,
		WindowStart:  ev.Time,
		WindowEnd:    ev.Time,
		StartsAt:     ev.Time,
		Evidence:     []event.Event{*ev},
		EvidenceSeen: 1,
		Drill:        drill,
		RulesVersion: version,
		CreatedAt:    e.now().UTC(),
	}, nil
}

func render(t *template.Template, data any) (string, error) {
	if t == nil {
		return "", nil
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("template %s: %w", t.Name(), err)
	}
	return strings.TrimSpace(b.String()), nil
}

// View is the event as rules and templates see it.
func View(ev *event.Event, drill bool) (map[string]any, error) {
	var data map[string]any
	if len(ev.Data) > 0 {
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			return nil, fmt.Errorf("decode data of %s: %w", ev.ID, err)
		}
	}
	if data == nil {
		data = map[string]any{}
	}
	return map[string]any{
		"id":      ev.ID,
		"type":    ev.Type,
		"source":  ev.Source,
		"time":    ev.Time,
		"cluster": ev.Cluster,
		"node":    ev.Node,
		"subject": ev.Subject,
		"drill":   drill,
		"data":    data,
	}, nil
}

package correlate

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

func (e *Engine) fire(tl *timeline, rs *ruleState, g *group, v *rule.EventView, at int64, depth int) {
	g.firing, g.startsAt, g.updates, g.lastUpdate = true, at, 0, max(at, tl.high)
	g.updateDue, g.change = 0, nil
	g.lastMark = markOf(g)
	e.stats[rs.c.Name].Fired++
	e.raise(tl, rs, g, g.key, v, alert.Firing, at, 0, depth)
}

func (e *Engine) resolve(tl *timeline, rs *ruleState, g *group, v *rule.EventView, at int64, depth int) {
	g.firing = false
	e.stats[rs.c.Name].Resolved++
	e.raise(tl, rs, g, g.key, v, alert.Resolved, g.startsAt, at, depth)
}

// emit raises the one-shot alert of an event rule.
func (e *Engine) emit(tl *timeline, rs *ruleState, _ *group, key string, v *rule.EventView, state alert.State, at, _ int64, depth int) {
	e.stats[rs.c.Name].Fired++
	g := &group{key: key, labels: labelsOf(rs.c, key, v), last: v, lastAt: at}
	e.raise(tl, rs, g, key, v, state, at, 0, depth)
}

// raise builds the alert (unless replaying) and feeds it back as an
// aftershock.alert event to the rules that build on it.
func (e *Engine) raise(tl *timeline, rs *ruleState, g *group, key string, v *rule.EventView, state alert.State, startsAt, endsAt int64, depth int) {
	c := rs.c
	fpKey := key
	if tl.drill {
		fpKey = key + "\x00drill:" + tl.run
	}
	fp := alert.Fingerprint(c.Name, fpKey)
	start := time.Unix(0, startsAt).UTC()
	id := alert.MakeID(fp, start, state)
	if g.updates > 0 && state == alert.Firing {
		id = alert.UpdateID(fp, start, g.updates)
	}
	// Build even when replaying: a resolve after a restart repeats the text
	// of the firing alert, which only the build knows.
	a := e.build(tl, rs, g, v, e.labels(c, g, v), state, start, endsAt)
	a.ID, a.Fingerprint, a.GroupKey = id, fp, key
	labels := a.Labels
	if !e.replay {
		e.out = append(e.out, a)
	}
	if depth >= maxDerivedDepth || g.updates > 0 && state == alert.Firing {
		return
	}
	if rules := e.idx.rulesFor(rule.TypeAlert); len(rules) > 0 {
		at := startsAt
		if state == alert.Resolved {
			at = endsAt
		}
		d := rule.AlertData{Rule: c.Name, State: string(state), Severity: c.Severity, GroupKey: key, Labels: labels, StartsAt: start}
		if endsAt != 0 {
			d.EndsAt = time.Unix(0, endsAt).UTC()
		}
		if c.Kind == rule.KindAbsence && g.lastAt != 0 {
			d.LastSeen = time.Unix(0, g.lastAt).UTC()
		}
		raw, _ := json.Marshal(d)
		ev := &event.Event{
			SpecVersion: event.SpecVersion, ID: "alert-" + id, Source: "aftershock/router", Type: rule.TypeAlert,
			Time: time.Unix(0, at).UTC(), Cluster: labels["cluster"], Node: labels["node"], Data: raw,
		}
		e.dispatch(tl, rule.NewView(ev, tl.drill), rules, depth+1)
	}
}

func (e *Engine) labels(c *rule.Compiled, g *group, v *rule.EventView) map[string]string {
	l := make(map[string]string, len(g.labels)+len(c.Labels)+3)
	if c.Kind == rule.KindEvent && v != nil {
		l["cluster"], l["node"], l["type"] = v.Ev.Cluster, v.Ev.Node, v.Ev.Type
	}
	maps.Copy(l, g.labels)
	for k, v := range c.Labels {
		if c.LabelTemplates[k] == nil { // templates are rendered with the values
			l[k] = v
		}
	}
	return l
}

// build renders an alert: values, then templates.
func (e *Engine) build(tl *timeline, rs *ruleState, g *group, v *rule.EventView, labels map[string]string, state alert.State, start time.Time, endsAt int64) *alert.Alert {
	c := rs.c
	if state == alert.Resolved && g.text != nil {
		// A resolve says what was firing: the window that made the text is
		// gone (that is why it resolved).
		a := *g.text
		a.State, a.EndsAt, a.WindowEnd, a.CreatedAt = alert.Resolved, time.Unix(0, endsAt).UTC(), time.Unix(0, endsAt).UTC(), e.opts.Now().UTC()
		for k := range c.LabelTemplates {
			if v, ok := a.Labels[k]; ok {
				labels[k] = v
			}
		}
		a.Labels, a.Annotations, a.RulesVersion, a.Update, a.Change = labels, maps.Clone(a.Annotations), e.set.Version, 0, nil
		e.resolvedReason(c, g, &a, v)
		return &a
	}
	var w rule.Window
	trigger := v
	if trigger == nil {
		trigger = g.last
	}
	if c.Kind == rule.KindWindow {
		w = winView{g: g, e: e, whole: true, from: minTime, to: maxTime}
	} else {
		w = oneWindow{v: trigger}
	}
	values := map[string]any{}
	for _, name := range c.ValueNames {
		e.bindWindow(tl, c, g, trigger, w)
		e.act.Events = e.evidence(g, trigger) // values always see the sample
		out, _, err := c.Values[name].Eval(&e.act)
		if err != nil {
			e.stats[c.Name].EvalErrors++
			e.log.Debug("rule value error (value left empty)", "rule", c.Name, "value", name, "err", err)
			continue
		}
		values[name] = celToGo(out)
	}
	evs := e.evidence(g, trigger)
	keys := c.TemplateKeys
	var evMaps []map[string]any
	if keys.Reads("events") || keys.Reads("first") || keys.Reads("last") {
		evMaps = make([]map[string]any, len(evs))
		for i, x := range evs {
			evMaps[i] = x.Map()
		}
	}
	a := &alert.Alert{
		Rule: c.Name, Severity: c.Severity, State: state, Labels: labels, Receivers: c.Receivers,
		StartsAt: start, Evidence: keyEvidence(evs, alert.MaxEvidence), EvidenceSeen: len(evs), Drill: tl.drill,
		RulesVersion: e.set.Version, CreatedAt: e.opts.Now().UTC(), Update: g.updates, Change: g.change,
		WindowStart: start, WindowEnd: start, NoteOrder: c.AnnotationOrder,
	}
	if endsAt != 0 {
		a.EndsAt = time.Unix(0, endsAt).UTC()
		a.WindowEnd = a.EndsAt
	}
	var win map[string]any
	if keys.Reads("window") {
		win = map[string]any{"count": w.Count(nil), "events": w.Events(nil), "nodes": w.Nodes(nil), "node_names": w.NodeNames(nil)}
	}
	if t, ok := w.First(nil); ok {
		a.WindowStart = t
		if win != nil {
			win["start"] = t
		}
	}
	if t, ok := w.Last(nil); ok {
		a.WindowEnd = t
		if win != nil {
			win["end"] = t
		}
	}
	if c.Kind == rule.KindWindow {
		a.EvidenceSeen = int(w.Events(nil))
		a.Tally = e.tally(g)
	}
	if c.Kind == rule.KindAbsence && g.lastAt != 0 {
		// A silence begins at the last sign of life, not when it was
		// judged one (absent_for later): the time people compare with.
		a.Since = time.Unix(0, g.lastAt).UTC()
	}
	if c.SinceExpr != nil {
		e.bindWindow(tl, c, g, trigger, w)
		e.act.Events = evs
		if out, _, err := c.SinceExpr.Eval(&e.act); err == nil {
			if t, ok := out.(types.Timestamp); ok {
				a.Since = t.UTC()
			}
		} else {
			e.stats[c.Name].EvalErrors++
			e.log.Debug("rule since error (left at the start)", "rule", c.Name, "err", err)
		}
	}
	data := map[string]any{
		"rule": c.Name, "severity": c.Severity, "state": string(state), "labels": labels, "key": g.labels,
		"group_key": g.key, "values": values, "events": evMaps, "count": a.EvidenceSeen, "window": win,
		"starts_at": a.StartsAt, "ends_at": a.EndsAt, "since": a.Begins(), "drill": tl.drill, "run": tl.run,
	}
	if trigger != nil && keys.Reads("event") {
		data["event"] = eventMap(trigger, evs, evMaps)
	}
	if len(evMaps) > 0 {
		data["first"], data["last"] = evMaps[0], evMaps[len(evMaps)-1]
	}
	for name, t := range c.LabelTemplates {
		if v := e.render(c, t, data); v != "" {
			a.Labels[name] = v
		}
	}
	a.Headline = e.render(c, c.TitleTemplate, data)
	a.Summary = e.render(c, c.Summary, data)
	a.Details = e.render(c, c.Details, data)
	if a.Change != nil && a.Change.Significant {
		a.Change.Notes = e.changeNotes(c, a.Change.Values, data)
	}
	for name, t := range c.Annotated {
		if s := e.render(c, t, data); s != "" {
			if a.Annotations == nil {
				a.Annotations = map[string]string{}
			}
			a.Annotations[name] = s
		}
	}
	if state == alert.Firing {
		g.text = a
		rememberSignificant(c, g, values)
	} else {
		e.resolvedReason(c, g, a, v)
	}
	return a
}

// eventMap is the trigger's template map, the sample's when the trigger is
// in it (templates do not write to the maps).
func eventMap(trigger *rule.EventView, evs []*rule.EventView, evMaps []map[string]any) map[string]any {
	if i := slices.Index(evs, trigger); i >= 0 && evMaps != nil {
		return evMaps[i]
	}
	return trigger.Map()
}

func (e *Engine) resolvedReason(c *rule.Compiled, g *group, a *alert.Alert, v *rule.EventView) {
	// A resolve notice says why it resolved: people act on "kdump is ready
	// now" differently than on "nobody has heard from it for a day".
	var why string
	switch {
	case g.deleted:
		why = fmt.Sprintf("silent for more than forget_after (%s): no longer tracked", c.ForgetAfter)
	case c.Kind == rule.KindAbsence && v != nil:
		why = "heard from again: " + v.Ev.Type + " from " + cmp.Or(v.Ev.Node, v.Ev.Source)
	case c.Kind == rule.KindState && v != nil:
		why = "no longer holds after the latest " + v.Ev.Type + " from " + cmp.Or(v.Ev.Node, v.Ev.Source)
	case c.Kind == rule.KindWindow:
		why = "no longer holds over the last " + brief.Duration(c.Window.Std()) + " of events"
	}
	if why == "" {
		return
	}
	if a.Annotations == nil {
		a.Annotations = map[string]string{}
	}
	a.Annotations["resolved_reason"] = why
}

// render executes a template; a failure never loses the alert: the text
// says what failed instead, and the error is counted.
func (e *Engine) render(c *rule.Compiled, t *template.Template, data any) string {
	s, err := render(t, data)
	if err != nil {
		e.stats[c.Name].EvalErrors++
		e.log.Warn("rule template failed; alert sent with the error as text", "rule", c.Name, "err", err)
		return fmt.Sprintf("%s (template %s failed: %v)", c.Name, t.Name(), err)
	}
	return s
}

// evidence is the group's sample, or the triggering event alone.
func (e *Engine) evidence(g *group, v *rule.EventView) []*rule.EventView {
	if len(g.sample) > 0 {
		return g.sampleViews()
	}
	if v != nil {
		return []*rule.EventView{v}
	}
	return nil
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

// celToGo converts a CEL value for templates: lists to []any, maps to
// map[string]any, events to their template map, timestamps to time.Time.
func celToGo(v ref.Val) any {
	switch x := v.(type) {
	case *rule.EventView:
		return x.Map()
	case traits.Lister:
		n := int(x.Size().(types.Int))
		out := make([]any, n)
		for i := range n {
			out[i] = celToGo(x.Get(types.Int(i)))
		}
		return out
	case traits.Mapper:
		out := map[string]any{}
		for it := x.Iterator(); it.HasNext() == types.True; {
			k := it.Next()
			out[fmt.Sprint(k.Value())] = celToGo(x.Get(k))
		}
		return out
	case types.Timestamp:
		return x.Time
	case types.Duration:
		return x.Duration
	}
	return v.Value()
}

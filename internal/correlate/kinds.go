package correlate

import (
	"fmt"
	"strings"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/rule"
)

// offer runs one rule on one event the index selected for it.
func (e *Engine) offer(tl *timeline, rs *ruleState, v *rule.EventView, depth int) {
	c := rs.c
	st := e.stats[c.Name]
	if c.Match != nil {
		ok, err := e.match(c, v, depth)
		if err != nil {
			e.evalError(st, c, "match", v, err)
			return
		}
		if !ok {
			return
		}
	}
	st.Matched++
	at := v.Ev.Time
	if c.At != nil {
		t, err := e.evalTime(c.At, v)
		if err != nil {
			e.evalError(st, c, "at", v, err)
			return
		}
		at = t
	}
	key, err := e.groupKey(c, v)
	if err != nil {
		e.evalError(st, c, "group_by", v, err)
		return
	}
	switch c.Kind {
	case rule.KindEvent:
		e.emit(tl, rs, nil, key, v, alert.Firing, at.UnixNano(), at.UnixNano(), depth)
	case rule.KindState:
		e.offerState(tl, rs, st, key, v, at.UnixNano(), depth)
	case rule.KindWindow:
		e.offerWindow(tl, rs, st, key, v, at.UnixNano(), depth)
	case rule.KindAbsence:
		e.offerAbsence(tl, rs, st, key, v, at.UnixNano(), depth)
	}
}

func (e *Engine) evalError(st *RuleStats, c *rule.Compiled, what string, v *rule.EventView, err error) {
	st.EvalErrors++
	e.log.Debug("rule evaluation error (counted as no match)", "rule", c.Name, "expr", what, "event", v.Ev.ID, "err", err)
}

func (e *Engine) evalBool(p cel.Program, v *rule.EventView) (bool, error) {
	e.act.Reset()
	e.act.Event = v
	out, _, err := p.Eval(&e.act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("result is %s, not bool", out.Type().TypeName())
	}
	return bool(b), nil
}

func (e *Engine) evalTime(p cel.Program, v *rule.EventView) (time.Time, error) {
	e.act.Reset()
	e.act.Event = v
	out, _, err := p.Eval(&e.act)
	if err != nil {
		return time.Time{}, err
	}
	ts, ok := out.(types.Timestamp)
	if !ok {
		return time.Time{}, fmt.Errorf("at is %s, not a timestamp", out.Type().TypeName())
	}
	return ts.Time, nil
}

// groupKey joins the group_by values; without group_by every event is its
// own group.
func (e *Engine) groupKey(c *rule.Compiled, v *rule.EventView) (string, error) {
	switch len(c.GroupBy) {
	case 0:
		return v.Ev.ID, nil
	case 1:
		return e.groupPart(c.GroupBy[0], v)
	}
	// Rules grouping the same way share the key of an event.
	if e.keyEv != v {
		e.keyEv, e.keys = v, e.keys[:0]
	}
	for _, k := range e.keys {
		if k.sig == c.GroupSig {
			return k.key, nil
		}
	}
	key, err := e.joinKey(c, v)
	if err == nil {
		e.keys = append(e.keys, groupKeyCache{c.GroupSig, key})
	}
	return key, err
}

type groupKeyCache struct{ sig, key string }

func (e *Engine) joinKey(c *rule.Compiled, v *rule.EventView) (string, error) {
	var b strings.Builder
	for i, g := range c.GroupBy {
		s, err := e.groupPart(g, v)
		if err != nil {
			return "", err
		}
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func (e *Engine) groupPart(g rule.Group, v *rule.EventView) (string, error) {
	if g.Field != "" {
		return rule.EnvelopeValue(v.Ev, g.Field), nil
	}
	e.act.Reset()
	e.act.Event = v
	out, _, err := g.Prg.Eval(&e.act)
	if err != nil {
		return "", err
	}
	return valueString(out), nil
}

func valueString(v ref.Val) string {
	switch x := v.(type) {
	case types.String:
		return string(x)
	case types.Timestamp:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v.Value())
}

// labelsOf splits a group key back into group_by labels.
func labelsOf(c *rule.Compiled, key string, v *rule.EventView) map[string]string {
	l := make(map[string]string, len(c.GroupBy)+3)
	if len(c.GroupBy) == 0 {
		return l
	}
	parts := strings.SplitN(key, "/", len(c.GroupBy))
	if len(parts) != len(c.GroupBy) { // a value contained '/': recompute
		parts = parts[:0]
		for _, g := range c.GroupBy {
			if g.Field != "" {
				parts = append(parts, rule.EnvelopeValue(v.Ev, g.Field))
			}
		}
	}
	for i, g := range c.GroupBy {
		if i < len(parts) {
			l[g.Label] = parts[i]
		}
	}
	return l
}

// getGroup finds or creates a group, within max_groups.
func (e *Engine) getGroup(rs *ruleState, st *RuleStats, key string, v *rule.EventView) *group {
	if g := rs.groups[key]; g != nil {
		return g
	}
	if len(rs.groups) >= rs.c.Limits.MaxGroups {
		st.DroppedGroups++
		if st.DroppedGroups == 1 || st.DroppedGroups%10_000 == 0 {
			e.log.Warn("rule has too many groups; events of new groups are dropped", "rule", rs.c.Name, "max_groups", rs.c.Limits.MaxGroups, "dropped", st.DroppedGroups)
		}
		return nil
	}
	g := &group{key: key, labels: labelsOf(rs.c, key, v)}
	rs.groups[key] = g
	return g
}

func (e *Engine) offerState(tl *timeline, rs *ruleState, st *RuleStats, key string, v *rule.EventView, at int64, depth int) {
	g := e.getGroup(rs, st, key, v)
	if g == nil {
		return
	}
	if g.lastAt != 0 && at < g.lastAt {
		st.Stale++ // an older state than the one already judged
		return
	}
	g.lastAt = at
	ok, err := e.evalCondition(tl, rs.c, g, v, oneWindow{v: v})
	if err != nil {
		e.evalError(st, rs.c, "condition", v, err)
		return
	}
	switch {
	case ok && !g.firing:
		g.last = v
		e.fire(tl, rs, g, v, at, depth)
	case !ok && g.firing:
		g.last = v
		e.resolve(tl, rs, g, v, at, depth)
	}
	if !g.firing {
		g.last = nil // keep no payload for quiet groups
	}
}

func (e *Engine) offerAbsence(tl *timeline, rs *ruleState, st *RuleStats, key string, v *rule.EventView, at int64, depth int) {
	g := e.getGroup(rs, st, key, v)
	if g == nil {
		return
	}
	if at <= g.lastAt {
		return // an older or repeated sign of life says nothing new
	}
	if g.firing {
		e.resolve(tl, rs, g, v, at, depth)
	}
	g.lastAt, g.last = at, v
	tl.schedule(rs, g, at+int64(rs.c.AbsentFor)+int64(rs.c.Lateness))
}

func (e *Engine) offerWindow(tl *timeline, rs *ruleState, st *RuleStats, key string, v *rule.EventView, at int64, depth int) {
	c := rs.c
	g := rs.groups[key]
	w, late := int64(c.Window), int64(c.Lateness)
	clock := tl.high - late
	if g != nil {
		clock = max(clock, g.newest)
	}
	if at <= clock-w {
		st.Late++
		e.logLate(tl, c, st, v, clock-w-at)
		return
	}
	if g = e.getGroup(rs, st, key, v); g == nil {
		return
	}
	if e.cur != v { // ids and occurrences once per event, not per rule
		e.cur, e.curEntry = v, entry{typ: e.types.id(v.Ev.Type), node: e.nodes.id(v.Ev.Node), occ: rule.Occurrences(v.Ev), id: idHash(v.Ev.ID)}
	}
	en := e.curEntry
	en.at = at
	if g.has(en) {
		st.Duplicates++
		return
	}
	g.insert(en, v, c.Limits.Evidence)
	if g.last == nil || at >= g.lastAt {
		g.last, g.lastAt = v, at
	}
	before := g.overflow
	g.evict(max(clock, g.newest)-w, c.Limits.MaxEntries)
	if g.overflow != before {
		st.Overflow += g.overflow - before
	}
	ok, err := e.evalCondition(tl, c, g, v, winView{g: g, e: e, whole: true, from: minTime, to: maxTime})
	if err != nil {
		e.evalError(st, c, "condition", v, err)
	} else {
		switch {
		case ok && !g.firing:
			e.fire(tl, rs, g, v, g.newest, depth)
		case ok && g.firing:
			e.maybeUpdate(tl, rs, g, v, depth)
		case !ok && g.firing:
			e.resolve(tl, rs, g, v, g.newest, depth)
		}
	}
	e.rearm(tl, rs, g)
}

// onTimer handles a group whose time has come: a window whose oldest record
// leaves it, a silence that lasted absent_for, a group to forget.
func (e *Engine) onTimer(tl *timeline, rs *ruleState, g *group) {
	c := rs.c
	st := e.stats[c.Name]
	late := int64(c.Lateness)
	wm := tl.high - late
	switch c.Kind {
	case rule.KindAbsence:
		switch {
		case !g.firing && wm >= g.lastAt+int64(c.AbsentFor):
			e.fire(tl, rs, g, g.last, g.lastAt+int64(c.AbsentFor), 0)
			tl.schedule(rs, g, g.lastAt+int64(c.ForgetAfter)+late)
		case g.firing && wm >= g.lastAt+int64(c.ForgetAfter):
			g.deleted = true
			delete(rs.groups, g.key)
			e.resolve(tl, rs, g, nil, g.lastAt+int64(c.ForgetAfter), 0)
		}
	case rule.KindWindow:
		w := int64(c.Window)
		cutoff := max(wm, g.newest) - w
		// While firing, let records go one timestamp at a time: the alert
		// resolves when the first departure makes the condition false.
		for g.firing && !g.empty() && g.oldest() <= cutoff {
			at := g.oldest()
			g.evict(at, c.Limits.MaxEntries)
			ok, err := e.evalCondition(tl, c, g, g.last, winView{g: g, e: e, whole: true, from: minTime, to: maxTime})
			if err != nil {
				e.evalError(st, c, "condition", g.last, err)
				break
			}
			if !ok {
				e.resolve(tl, rs, g, nil, at+w, 0)
			}
		}
		g.evict(cutoff, c.Limits.MaxEntries)
		if g.empty() && !g.firing {
			g.deleted = true
			delete(rs.groups, g.key)
			return
		}
		e.dueUpdate(tl, rs, g)
		if !g.empty() {
			e.rearm(tl, rs, g)
		}
	}
}

// evalCondition evaluates a window or state condition.
func (e *Engine) evalCondition(tl *timeline, c *rule.Compiled, g *group, v *rule.EventView, w rule.Window) (bool, error) {
	if c.Native != nil {
		return c.Native(w), nil
	}
	e.bindWindow(tl, c, g, v, w)
	out, _, err := c.Condition.Eval(&e.act)
	if err != nil {
		return false, err
	}
	b, ok := out.(types.Bool)
	if !ok {
		return false, fmt.Errorf("condition is %s, not bool", out.Type().TypeName())
	}
	return bool(b), nil
}

// bindWindow fills the activation for a condition or values.
func (e *Engine) bindWindow(tl *timeline, c *rule.Compiled, g *group, v *rule.EventView, w rule.Window) {
	e.act.Reset()
	e.act.Event = v
	e.act.Key = g.labels
	e.act.Window = w
	e.act.Latest = tl
	e.act.Last = g.last
	if len(g.sample) > 0 {
		e.act.First = g.sample[0].v
		e.act.Last = g.sample[len(g.sample)-1].v
	} else {
		e.act.First = v
	}
	if e.act.Last == nil {
		e.act.Last = v
	}
	if c.UsesEvents {
		if len(g.sample) > 0 {
			e.act.Events = g.sampleViews()
		} else if v != nil {
			e.act.Events = []*rule.EventView{v}
		}
	}
}

func (e *Engine) logLate(tl *timeline, c *rule.Compiled, st *RuleStats, v *rule.EventView, behind int64) {
	now := e.opts.Now()
	if now.Sub(st.lastLateLog) < time.Minute {
		return
	}
	st.lastLateLog = now
	e.log.Warn("late event outside the rule's window; counted, not evaluated",
		"rule", c.Name, "timeline", tl.name, "event", v.Ev.ID, "type", v.Ev.Type, "node", v.Ev.Node,
		"event_time", v.Ev.Time, "behind", time.Duration(behind).String(), "late_total", st.Late)
}

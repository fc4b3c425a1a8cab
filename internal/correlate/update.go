package correlate

import (
	"fmt"
	"slices"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/rule"
)

// A firing window alert is published again when it changes:
//   - at once when one of the rule's significant values changes (the
//     crashed node's reboot names the cause; another node crashes), however
//     soon after the last publication: that is the news people wait for;
//   - when the window has grown materially (half again as many events or
//     nodes, or a new event type), at most every update_every of the
//     timeline's clock; growth held back is published by a timer when that
//     time comes, even if no further event does.
//
// Every decision reads only the window and the timeline's clock, so a
// replay makes the same updates with the same ids.

// maybeUpdate runs for each event added to a firing group; it costs a
// comparison for most events (growth is judged when update_every has
// passed, significant values only for events of the types they name).
func (e *Engine) maybeUpdate(tl *timeline, rs *ruleState, g *group, v *rule.EventView, depth int) {
	if changed := e.significantChanges(tl, rs, g, v); len(changed) > 0 {
		g.change = &alert.Change{Significant: true, Values: changed}
		e.update(tl, rs, g, v, depth)
		return
	}
	if due := g.lastUpdate + int64(rs.c.UpdateEvery); tl.high < due {
		if g.updateDue == 0 {
			g.updateDue = due // rearm schedules it; growth is judged then
		}
		return
	}
	if grown(g.lastMark, markOf(g)) {
		e.update(tl, rs, g, v, depth)
	}
}

// dueUpdate publishes growth held back by update_every once its time came.
func (e *Engine) dueUpdate(tl *timeline, rs *ruleState, g *group) {
	if g.updateDue == 0 || tl.high < g.updateDue {
		return
	}
	g.updateDue = 0
	if g.firing && grown(g.lastMark, markOf(g)) {
		e.update(tl, rs, g, g.last, 0)
	}
}

// rearm schedules the group's next look: when its oldest record leaves the
// window, or when a held-back update is due, whichever comes first.
func (e *Engine) rearm(tl *timeline, rs *ruleState, g *group) {
	due := int64(0)
	if !g.empty() {
		due = g.oldest() + int64(rs.c.Window) + int64(rs.c.Lateness)
	}
	if g.updateDue != 0 && (due == 0 || g.updateDue < due) {
		due = g.updateDue
	}
	if due != 0 {
		tl.schedule(rs, g, due)
	}
}

// update republishes a firing window alert. g.change says why (nil:
// growth, described here).
func (e *Engine) update(tl *timeline, rs *ruleState, g *group, v *rule.EventView, depth int) {
	m := markOf(g)
	if g.change == nil {
		g.change = &alert.Change{Notes: []string{growthNote(g.lastMark, m)}}
	}
	g.lastMark, g.lastUpdate, g.updateDue = m, max(g.newest, tl.high), 0
	g.updates++
	e.raise(tl, rs, g, g.key, v, alert.Firing, g.startsAt, 0, depth)
	g.change = nil
}

// significantChanges evaluates the rule's significant values and names
// those that differ from what was last published.
func (e *Engine) significantChanges(tl *timeline, rs *ruleState, g *group, v *rule.EventView) []string {
	c := rs.c
	if len(c.SignificantValues) == 0 {
		return nil
	}
	var changed []string
	w := winView{g: g, e: e, whole: true, from: minTime, to: maxTime}
	for _, s := range c.SignificantValues {
		if len(s.Types) > 0 && !slices.Contains(s.Types, v.Ev.Type) {
			continue // an event of a type the value does not name
		}
		e.bindWindow(tl, c, g, v, w)
		e.act.Events = e.evidence(g, v)
		out, _, err := c.Values[s.Value].Eval(&e.act)
		if err != nil {
			continue // counted when the alert is built
		}
		if valueKey(celToGo(out)) != g.sig[s.Value] {
			changed = append(changed, s.Value)
		}
	}
	return changed
}

// valueKey is a comparable rendering of a template value (fmt sorts maps).
func valueKey(v any) string { return fmt.Sprintf("%#v", v) }

// remember keeps the significant values just published as the baseline.
func rememberSignificant(c *rule.Compiled, g *group, values map[string]any) {
	if len(c.SignificantValues) == 0 {
		return
	}
	g.sig = make(map[string]string, len(c.SignificantValues))
	for _, s := range c.SignificantValues {
		if v, ok := values[s.Value]; ok {
			g.sig[s.Value] = valueKey(v)
		}
	}
}

// mark is a window's size: events, nodes, types present.
type mark struct{ events, nodes, types int64 }

func markOf(g *group) mark {
	var m mark
	for _, tc := range g.byType {
		m.events += tc.events
		if tc.events > 0 {
			m.types++
		}
	}
	m.nodes = int64(len(g.nodes))
	return m
}

// grown: half again as many events or nodes, or a new event type.
func grown(before, now mark) bool {
	return now.types > before.types || now.events >= before.events+max(1, (before.events+1)/2) ||
		now.nodes >= before.nodes+max(1, (before.nodes+1)/2)
}

func growthNote(before, now mark) string {
	if before.nodes == now.nodes {
		return fmt.Sprintf("the window grew from %d to %d events on %d nodes", before.events, now.events, now.nodes)
	}
	return fmt.Sprintf("the window grew from %d to %d events and from %d to %d nodes", before.events, now.events, before.nodes, now.nodes)
}

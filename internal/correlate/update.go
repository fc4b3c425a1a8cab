package correlate

import (
	"fmt"

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

// maybeUpdate runs for each event added to a firing group.
func (e *Engine) maybeUpdate(tl *timeline, rs *ruleState, g *group, v *rule.EventView, depth int) {
	if changed := e.significantChanges(tl, rs, g, v); len(changed) > 0 {
		g.change = &alert.Change{Significant: true, Values: changed}
		e.update(tl, rs, g, v, depth)
		return
	}
	if !grown(g.lastText, growthMark(g)) {
		return
	}
	if due := g.lastUpdate + int64(rs.c.UpdateEvery); tl.high < due {
		g.updateDue = due // rearm (after this event) schedules it
		return
	}
	e.update(tl, rs, g, v, depth)
}

// dueUpdate publishes growth held back by update_every once its time came.
func (e *Engine) dueUpdate(tl *timeline, rs *ruleState, g *group) {
	if g.updateDue == 0 || tl.high < g.updateDue {
		return
	}
	g.updateDue = 0
	if g.firing && grown(g.lastText, growthMark(g)) {
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
	mark := growthMark(g)
	if g.change == nil {
		g.change = &alert.Change{Notes: []string{growthNote(g.lastText, mark)}}
	}
	g.lastText, g.lastUpdate, g.updateDue = mark, max(g.newest, tl.high), 0
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

// growthMark summarises a window's size: events, nodes, types present.
func growthMark(g *group) string {
	var evs int64
	types := 0
	for _, tc := range g.byType {
		evs += tc.events
		if tc.events > 0 {
			types++
		}
	}
	return fmt.Sprintf("%d %d %d", evs, len(g.nodes), types)
}

func parseMark(m string) (events, nodes, types int64) {
	fmt.Sscanf(m, "%d %d %d", &events, &nodes, &types)
	return
}

func grown(before, now string) bool {
	e0, n0, t0 := parseMark(before)
	e1, n1, t1 := parseMark(now)
	return t1 > t0 || e1 >= e0+max(1, (e0+1)/2) || n1 >= n0+max(1, (n0+1)/2)
}

func growthNote(before, now string) string {
	e0, n0, _ := parseMark(before)
	e1, n1, _ := parseMark(now)
	if n0 == n1 {
		return fmt.Sprintf("the window grew from %d to %d events on %d nodes", e0, e1, n1)
	}
	return fmt.Sprintf("the window grew from %d to %d events and from %d to %d nodes", e0, e1, n0, n1)
}

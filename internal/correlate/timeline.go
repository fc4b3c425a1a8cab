package correlate

import (
	"container/heap"
	"slices"

	"github.com/aftershock/aftershock/internal/rule"
)

// timeline is one independent event-time world: the live one, or one drill
// run of one cluster. Timelines share nothing: not windows, not watermarks.
type timeline struct {
	name  string
	drill bool
	run   string // drill run: id of its first event
	// high is the largest event time seen (ns): the timeline's clock. A
	// rule's watermark is high minus its lateness.
	high        int64
	lastArrival int64
	rules       []*ruleState // parallel to the set's rules
	latest      map[string]map[string]*rule.EventView
	timers      timerHeap
}

func (e *Engine) newTimeline(name string, drill bool, run string) *timeline {
	tl := &timeline{name: name, drill: drill, run: run, latest: map[string]map[string]*rule.EventView{}}
	for _, c := range e.set.Rules {
		tl.rules = append(tl.rules, newRuleState(c))
	}
	return tl
}

func (tl *timeline) advance(t int64) {
	if t > tl.high {
		tl.high = t
	}
}

// remember keeps v as the latest event of its type from its node, for
// latest[...] in conditions and values.
func (tl *timeline) remember(v *rule.EventView) {
	byNode := tl.latest[v.Ev.Type]
	if byNode == nil {
		byNode = map[string]*rule.EventView{}
		tl.latest[v.Ev.Type] = byNode
	}
	if old := byNode[v.Ev.Node]; old == nil || !v.Ev.Time.Before(old.Ev.Time) {
		byNode[v.Ev.Node] = v
	}
}

// Latest implements rule.Latest.
func (tl *timeline) Latest(typ, node string) *rule.EventView { return tl.latest[typ][node] }

// Nodes implements rule.Latest.
func (tl *timeline) Nodes(typ string) []string {
	out := make([]string, 0, len(tl.latest[typ]))
	for n := range tl.latest[typ] {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// ruleState is one rule's state on one timeline.
type ruleState struct {
	c      *rule.Compiled
	groups map[string]*group
	dead   bool // replaced by a reload; pending timers are ignored
}

func newRuleState(c *rule.Compiled) *ruleState {
	return &ruleState{c: c, groups: map[string]*group{}}
}

// timer asks for a group to be looked at once the timeline's clock reaches
// due. A group has at most one live timer: the one whose due equals its
// scheduled field; others are stale and skipped.
type timer struct {
	due int64
	rs  *ruleState
	g   *group
}

type timerHeap []timer

func (h timerHeap) Len() int           { return len(h) }
func (h timerHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h timerHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *timerHeap) Push(x any)        { *h = append(*h, x.(timer)) }
func (h *timerHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}

// schedule makes sure g is looked at when the clock reaches due.
func (tl *timeline) schedule(rs *ruleState, g *group, due int64) {
	g.due = due
	if g.scheduled != 0 && g.scheduled <= due {
		return // the pending timer comes first and will re-arm for due
	}
	g.scheduled = due
	heap.Push(&tl.timers, timer{due: due, rs: rs, g: g})
}

// runTimers handles every group whose timer is due on the timeline's clock.
func (e *Engine) runTimers(tl *timeline) { e.runTimersTo(tl, tl.high) }

// runTimersBefore handles the timers due strictly before t.
func (e *Engine) runTimersBefore(tl *timeline, t int64) { e.runTimersTo(tl, min(t-1, tl.high)) }

func (e *Engine) runTimersTo(tl *timeline, limit int64) {
	for len(tl.timers) > 0 && tl.timers[0].due <= limit {
		t := heap.Pop(&tl.timers).(timer)
		g := t.g
		if t.rs.dead || g.deleted || g.scheduled != t.due {
			continue
		}
		g.scheduled = 0
		if g.due > limit { // re-armed for later since this timer was set
			tl.schedule(t.rs, g, g.due)
			continue
		}
		e.onTimer(tl, t.rs, g)
	}
}

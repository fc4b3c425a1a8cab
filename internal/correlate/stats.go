package correlate

import (
	"slices"
	"time"

	"github.com/aftershock/aftershock/internal/rule"
)

// RuleStats counts what happened to one rule's events, across reloads.
type RuleStats struct {
	Matched int64
	// EvalErrors are CEL runtime errors (a missing field): each is a
	// non-match, never a crash.
	EvalErrors int64
	// Late are events older than the rule's window on its timeline's clock:
	// counted and logged, not evaluated.
	Late int64
	// Overflow are window records dropped early by limits.max_entries.
	Overflow int64
	// DroppedGroups are events of new groups refused by limits.max_groups.
	DroppedGroups int64
	// Stale are state-rule events older than the state already judged.
	Stale int64
	// Duplicates are events a window already held (same id and time):
	// redeliveries and repeated drill replays, not counted twice.
	Duplicates int64
	Fired      int64
	Resolved   int64

	lastLateLog time.Time
}

// Totals are engine-wide counters.
type Totals struct {
	Events int64
}

// TimelineStats describe one timeline.
type TimelineStats struct {
	Name      string
	Clock     time.Time
	Groups    int
	Records   int
	Evidence  int
	Latest    int
	Timers    int
	DrillRun  string
	Firing    int
	RuleCount int
}

// Stats is a snapshot for /metrics.
type Stats struct {
	Totals    Totals
	Rules     map[string]RuleStats
	Timelines []TimelineStats
}

// Stats returns a snapshot of the counters and state sizes.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Stats{Totals: e.totals, Rules: map[string]RuleStats{}}
	for name, st := range e.stats {
		s.Rules[name] = *st
	}
	tls := []*timeline{e.live}
	for _, name := range slices.Sorted(mapsKeys(e.drills)) {
		tls = append(tls, e.drills[name])
	}
	for _, tl := range tls {
		ts := TimelineStats{Name: tl.name, Clock: time.Unix(0, tl.high).UTC(), Timers: len(tl.timers), DrillRun: tl.run, RuleCount: len(tl.rules)}
		for _, rs := range tl.rules {
			ts.Groups += len(rs.groups)
			for _, g := range rs.groups {
				ts.Records += len(g.entries) - g.head
				ts.Evidence += len(g.sample)
				if g.firing {
					ts.Firing++
				}
			}
		}
		for _, byNode := range tl.latest {
			ts.Latest += len(byNode)
		}
		s.Timelines = append(s.Timelines, ts)
	}
	return s
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// oneWindow is the window of state, absence and event rules: the single
// event being judged.
type oneWindow struct{ v *rule.EventView }

var _ rule.Window = oneWindow{}

func (w oneWindow) has(types []string) bool {
	return w.v != nil && (len(types) == 0 || slices.Contains(types, w.v.Ev.Type))
}

func (w oneWindow) Count(types []string) int64 {
	if !w.has(types) {
		return 0
	}
	return rule.Occurrences(w.v.Ev)
}

func (w oneWindow) Events(types []string) int64 {
	if w.has(types) {
		return 1
	}
	return 0
}

func (w oneWindow) Nodes(types []string) int64 { return w.Events(types) }

func (w oneWindow) NodeNames(types []string) []string {
	if w.has(types) {
		return []string{w.v.Ev.Node}
	}
	return []string{}
}

func (w oneWindow) After(t time.Time) rule.Window {
	if w.v != nil && !w.v.Ev.Time.Before(t) {
		return w
	}
	return oneWindow{}
}

func (w oneWindow) Before(t time.Time) rule.Window {
	if w.v != nil && w.v.Ev.Time.Before(t) {
		return w
	}
	return oneWindow{}
}

func (w oneWindow) First(types []string) (time.Time, bool) {
	if w.has(types) {
		return w.v.Ev.Time, true
	}
	return time.Time{}, false
}

func (w oneWindow) Last(types []string) (time.Time, bool) { return w.First(types) }

// EvalErrors is the total of CEL runtime errors across rules.
func (e *Engine) EvalErrors() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var n int64
	for _, st := range e.stats {
		n += st.EvalErrors
	}
	return n
}

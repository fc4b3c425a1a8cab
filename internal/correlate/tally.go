package correlate

import (
	"cmp"
	"slices"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// topNodes is how many nodes a tally names per type.
const topNodes = 3

// tally counts the window by type: what a reader needs instead of a list
// of raw events. It scans the window, which happens only when an alert is
// raised or updated.
func (e *Engine) tally(g *group) []alert.TypeTally {
	out := make([]alert.TypeTally, 0, len(g.byType))
	index := map[uint32]int{}
	for _, tc := range g.byType {
		if tc.events <= 0 {
			continue
		}
		index[tc.typ] = len(out)
		out = append(out, alert.TypeTally{Type: e.types.names[tc.typ], Events: tc.events, Occurrences: tc.occ, Nodes: tc.nodes})
	}
	first := make([]int64, len(out))
	last := make([]int64, len(out))
	for _, en := range g.live() {
		i, ok := index[en.typ]
		if !ok {
			continue
		}
		if first[i] == 0 {
			first[i] = en.at
		}
		last[i] = en.at
	}
	tops := make([][]alert.NodeCount, len(out))
	for pk, n := range g.pairs {
		i, ok := index[uint32(pk>>32)]
		if !ok {
			continue
		}
		tops[i] = append(tops[i], alert.NodeCount{Node: e.nodes.names[uint32(pk)], Events: int64(n)})
	}
	for i := range out {
		out[i].First, out[i].Last = time.Unix(0, first[i]).UTC(), time.Unix(0, last[i]).UTC()
		t := tops[i]
		slices.SortFunc(t, func(a, b alert.NodeCount) int {
			return cmp.Or(cmp.Compare(b.Events, a.Events), cmp.Compare(a.Node, b.Node))
		})
		out[i].TopNodes = t[:min(len(t), topNodes)]
	}
	// Rare types first: a crash is one reboot among a thousand timeouts.
	slices.SortStableFunc(out, func(a, b alert.TypeTally) int { return cmp.Compare(a.Events, b.Events) })
	return out
}

// keyEvidence picks at most n events of a time-ordered sample for the
// alert to carry: every type's latest, rarest types first, then more of
// the rarest types; returned in time order. The rest is counted in the
// tally; all of it stays in EVENTS.
func keyEvidence(evs []*rule.EventView, n int) []event.Event {
	if len(evs) == 0 {
		return nil
	}
	byType := map[string][]int{} // indexes in evs, time order
	var order []string
	for i, v := range evs {
		if byType[v.Ev.Type] == nil {
			order = append(order, v.Ev.Type)
		}
		byType[v.Ev.Type] = append(byType[v.Ev.Type], i)
	}
	slices.SortStableFunc(order, func(a, b string) int { return cmp.Compare(len(byType[a]), len(byType[b])) })
	picked := make([]bool, len(evs))
	count := 0
	// Round r takes each type's r-th latest event, rarest types first.
	for r := 0; count < n; r++ {
		took := false
		for _, t := range order {
			idx := byType[t]
			if r >= len(idx) || count >= n {
				continue
			}
			picked[idx[len(idx)-1-r]] = true
			count++
			took = true
		}
		if !took {
			break
		}
	}
	out := make([]event.Event, 0, count)
	for i, v := range evs {
		if picked[i] {
			out = append(out, *v.Ev)
		}
	}
	return out
}

// changeNotes renders what changed, for the significant values named.
func (e *Engine) changeNotes(c *rule.Compiled, changed []string, data map[string]any) []string {
	var notes []string
	for _, s := range c.SignificantValues {
		if !slices.Contains(changed, s.Value) {
			continue
		}
		note := s.Value + " changed"
		if s.Note != nil {
			note = e.render(c, s.Note, data)
		}
		if note != "" {
			notes = append(notes, note)
		}
	}
	return notes
}

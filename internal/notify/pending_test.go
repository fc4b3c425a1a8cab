package notify

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/aftershock/aftershock/internal/alert"
)

// scanQueue is the queue's order written as the plain scan it replaced:
// the reference the indexed pendingSet must agree with.
type scanQueue struct{ pending []*Message }

func (q *scanQueue) put(m *Message) {
	for i, old := range q.pending {
		if old.GroupID == m.GroupID {
			m.Absorb(old)
			q.pending[i] = m
			return
		}
	}
	q.pending = append(q.pending, m)
}

func (q *scanQueue) take(limit int) []*Message {
	if len(q.pending) == 0 {
		return nil
	}
	first := 0
	for i, m := range q.pending {
		if m.Priority() < q.pending[first].Priority() {
			first = i
		}
	}
	lead := q.pending[first]
	msgs := []*Message{lead}
	var rest []*Message
	for i, m := range q.pending {
		switch {
		case i == first:
		case len(msgs) < limit && lead.Kind != KindRefresh && m.Kind != KindRefresh && m.Drill == lead.Drill:
			msgs = append(msgs, m)
		default:
			rest = append(rest, m)
		}
	}
	q.pending = rest
	return msgs
}

// randomMessage is a message of one of a few groups, of any kind,
// severity and timeline (a group keeps its timeline, as group ids do).
func randomMessage(r *rand.Rand, groups int) *Message {
	g := r.IntN(groups)
	sev := [...]string{"critical", "warning", "info"}[r.IntN(3)]
	a := &alert.Alert{ID: fmt.Sprint(r.Uint64()), Fingerprint: fmt.Sprintf("fp%d", g), Severity: sev, State: alert.Firing}
	m := &Message{GroupID: fmt.Sprintf("g%d", g), Receiver: "r", Drill: g%5 == 0, Kind: Kind(r.IntN(5))}
	if m.Kind == KindResolved {
		m.Resolved = []*alert.Alert{a}
	} else {
		m.Firing = []*alert.Alert{a}
	}
	if m.Kind == KindPage {
		m.Fresh = map[string]bool{a.Fingerprint: true}
	}
	return m
}

// clone copies what Absorb changes, so both queues get their own.
func clone(m *Message) *Message {
	cp := *m
	cp.Fresh = maps.Clone(m.Fresh)
	return &cp
}

// TestPendingSetOrder: under random arrivals, replacements (including
// ones that turn a quiet refresh into news) and takes with several
// digest sizes, the indexed set hands out exactly what the scan does, in
// the same order, with the same merged kinds.
func TestPendingSetOrder(t *testing.T) {
	for _, tc := range []struct {
		name          string
		groups, limit int
	}{
		{"no digests", 8, 1},
		{"small digests, many replacements", 6, 3},
		{"large digests", 200, 20},
		{"digest larger than the queue", 30, 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for seed := range uint64(50) {
				r := rand.New(rand.NewPCG(seed, 1))
				ref, got := &scanQueue{}, newPendingSet()
				for step := range 400 {
					if r.IntN(3) > 0 {
						m := randomMessage(r, tc.groups)
						ref.put(m)
						got.put(clone(m))
						if got.len() != len(ref.pending) {
							t.Fatalf("seed %d step %d: %d pending, want %d", seed, step, got.len(), len(ref.pending))
						}
						continue
					}
					want, have := ref.take(tc.limit), got.take(tc.limit)
					if !slices.EqualFunc(want, have, func(a, b *Message) bool {
						return a.GroupID == b.GroupID && a.Kind == b.Kind && a.Alerts()[0].ID == b.Alerts()[0].ID
					}) {
						t.Fatalf("seed %d step %d: took %s, want %s", seed, step, describe(have), describe(want))
					}
				}
			}
		})
	}
}

func describe(ms []*Message) string {
	var s []string
	for _, m := range ms {
		s = append(s, fmt.Sprintf("%s/%s/p%d", m.GroupID, m.Kind, m.Priority()))
	}
	return fmt.Sprint(s)
}

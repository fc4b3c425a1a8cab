package chaos

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestReportCount(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name              string
		tally             Tally
		pages, lost, dups int
		worst             time.Duration
		worstEvent        int
	}{
		{"nothing", Tally{Published: map[int]time.Time{}}, 0, 0, 0, 0, -1},
		{"each paged once", Tally{
			Published: map[int]time.Time{0: at(0), 1: at(10)},
			Pages:     map[int][]time.Time{0: {at(5)}, 1: {at(40)}},
		}, 2, 0, 0, 30 * time.Millisecond, 1},
		{"a duplicate counts its first page for the delay", Tally{
			Published: map[int]time.Time{0: at(0)},
			Pages:     map[int][]time.Time{0: {at(900), at(20)}},
		}, 1, 0, 1, 20 * time.Millisecond, 0},
		{"a lost page; pages of events never published are not counted", Tally{
			Published: map[int]time.Time{0: at(0), 1: at(0)},
			Pages:     map[int][]time.Time{1: {at(7)}, 9: {at(1)}},
		}, 1, 1, 0, 7 * time.Millisecond, 1},
		{"lost pages named in order", Tally{
			Published: map[int]time.Time{5: at(0), 2: at(0), 7: at(0)},
			Pages:     map[int][]time.Time{7: {at(3)}},
		}, 1, 2, 0, 3 * time.Millisecond, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Report
			r.Count(tt.tally)
			if r.Pages != tt.pages || r.Lost != tt.lost || r.Duplicates != tt.dups || r.WorstDelay != tt.worst || r.WorstEvent != tt.worstEvent {
				t.Fatalf("got pages %d lost %d dups %d worst %s (event %d)", r.Pages, r.Lost, r.Duplicates, r.WorstDelay, r.WorstEvent)
			}
			if len(r.LostSeqs) != r.Lost || !slices.IsSorted(r.LostSeqs) {
				t.Fatalf("lost %d, named %v (in order)", r.Lost, r.LostSeqs)
			}
		})
	}
}

func TestReportPrint(t *testing.T) {
	r := Report{Events: 10, Pages: 10, Duplicates: 2, Crashes: 4,
		Ready:      []time.Duration{300 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond},
		WorstDelay: 1500 * time.Millisecond, WorstEvent: 3, Outage: 15 * time.Second, CollectorAccepted: 150, CollectorStored: 150}
	var b strings.Builder
	r.Print(&b)
	if strings.Contains(b.String(), "SIGTERM") {
		t.Errorf("a run of kills reports stops:\n%s", b.String())
	}
	stopped := r
	stopped.Stopped = []time.Duration{2 * time.Second, 40 * time.Millisecond, 50 * time.Millisecond}
	var sb strings.Builder
	stopped.Print(&sb)
	if want := "SIGTERM to exit:             p50 50ms, max 2s\n"; !strings.Contains(sb.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, sb.String())
	}
	lost := r
	lost.Lost, lost.LostSeqs = 22, []int{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21}
	var lb strings.Builder
	lost.Print(&lb)
	if want := "lost:                        22 (events [0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19] and 2 more)"; !strings.Contains(lb.String(), want) {
		t.Errorf("report lacks %q:\n%s", want, lb.String())
	}
	for _, want := range []string{"lost:                        0\n", "(0.50 per crash, 4 crashes)", "p50 200ms, max 300ms", "1.5s (event 3)", "150 events accepted, 150 stored, 0 lost"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, b.String())
		}
	}
}

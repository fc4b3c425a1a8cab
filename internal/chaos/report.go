// Package chaos is `task chaos`: real processes (nats-server, the router
// and collector binaries) under load, the router killed with SIGKILL again
// and again, and NATS taken away from a collector; then what was lost,
// duplicated and delayed, and how fast a killed router was back.
package chaos

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// Tally is what the page receiver saw, by event: every event the load
// published raises one page (its alert) through the router.
type Tally struct {
	// Published maps an event's seq to when it was published.
	Published map[int]time.Time
	// Pages maps an event's seq to when each notification of its alert
	// arrived (more than one: a duplicate).
	Pages map[int][]time.Time
}

// Report is the outcome of a run.
type Report struct {
	Events, Pages, Lost, Duplicates int
	// LostSeqs are the seqs of the events lost, in order.
	LostSeqs []int
	Crashes  int
	// Ready are the restart-to-ready times of the killed routers.
	Ready []time.Duration
	// Stopped are SIGTERM → exit of the stopped routers (--graceful): a
	// rolling update waits that long for each.
	Stopped []time.Duration
	// WorstDelay is the longest publish → first notification of any
	// event; WorstEvent is its seq.
	WorstDelay time.Duration
	WorstEvent int

	// The collector's NATS outage: events the collector accepted, stored
	// in EVENTS once NATS was back, the outage's length.
	CollectorAccepted, CollectorStored int
	Outage                             time.Duration
}

// Count fills the page figures of r from t.
func (r *Report) Count(t Tally) {
	r.Events = len(t.Published)
	r.Pages, r.Lost, r.Duplicates, r.LostSeqs = 0, 0, 0, nil
	r.WorstDelay, r.WorstEvent = 0, -1
	for seq, at := range t.Published {
		pages := t.Pages[seq]
		if len(pages) == 0 {
			r.Lost++
			r.LostSeqs = append(r.LostSeqs, seq)
			continue
		}
		r.Pages++
		r.Duplicates += len(pages) - 1
		if d := slices.MinFunc(pages, func(a, b time.Time) int { return a.Compare(b) }).Sub(at); d > r.WorstDelay {
			r.WorstDelay, r.WorstEvent = d, seq
		}
	}
	slices.Sort(r.LostSeqs)
}

// Quantile is the q-quantile of ds (0 when empty).
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// Print writes the report for people.
func (r *Report) Print(w io.Writer) {
	perCrash := 0.0
	if r.Crashes > 0 {
		perCrash = float64(r.Duplicates) / float64(r.Crashes)
	}
	fmt.Fprintf(w, "events published:            %d\n", r.Events)
	fmt.Fprintf(w, "alerts notified:             %d\n", r.Pages)
	fmt.Fprintf(w, "lost:                        %d", r.Lost)
	if n := len(r.LostSeqs); n > 0 {
		fmt.Fprintf(w, " (events %v", r.LostSeqs[:min(n, 20)])
		if n > 20 {
			fmt.Fprintf(w, " and %d more", n-20)
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "duplicates:                  %d (%.2f per crash, %d crashes)\n", r.Duplicates, perCrash, r.Crashes)
	if len(r.Stopped) > 0 {
		fmt.Fprintf(w, "SIGTERM to exit:             p50 %s, max %s\n", round(Quantile(r.Stopped, 0.5)), round(Quantile(r.Stopped, 1)))
	}
	fmt.Fprintf(w, "restart to ready:            p50 %s, max %s\n", round(Quantile(r.Ready, 0.5)), round(Quantile(r.Ready, 1)))
	fmt.Fprintf(w, "worst publish→notification:  %s (event %d)\n", round(r.WorstDelay), r.WorstEvent)
	if r.Outage > 0 {
		fmt.Fprintf(w, "collector, NATS away %s:    %d events accepted, %d stored, %d lost\n", round(r.Outage), r.CollectorAccepted, r.CollectorStored, max(r.CollectorAccepted-r.CollectorStored, 0))
	}
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d
}

package webui

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/event"
)

// Evidence is what EVENTS holds around an alert: the events of its
// cluster (and timeline) in an event-time range.
type Evidence struct {
	From, To time.Time
	Events   []event.Event // in event-time order
	// Truncated says the read stopped at MaxEvidenceRead messages.
	Truncated bool
}

// MaxEvidenceRead bounds the messages read from EVENTS for one page.
const MaxEvidenceRead = 50_000

// evidenceRange is the event-time range a page shows: from a while before
// what the alert is about began to a while after its last evidence.
func evidenceRange(a *alert.Alert) (from, to time.Time) {
	begin := a.Begins()
	end := a.StartsAt
	for _, t := range []time.Time{a.WindowEnd, a.EndsAt} {
		if t.After(end) && t.Sub(begin) < 6*time.Hour {
			end = t
		}
	}
	for _, ev := range a.Evidence {
		if ev.Time.After(end) {
			end = ev.Time
		}
	}
	for _, tt := range a.Tally {
		if tt.Last.After(end) {
			end = tt.Last
		}
	}
	if end.Sub(begin) > 6*time.Hour {
		end = begin.Add(6 * time.Hour)
	}
	pad := max(2*time.Minute, end.Sub(begin)/5)
	return begin.Add(-pad), end.Add(pad)
}

// readEvidence reads the events of the alert's cluster from EVENTS:
// subject filter by timeline and cluster, the start by arrival time (live
// events arrive when they happen; a drill's arrive when it was replayed,
// before the alert was made), the range by event time.
func readEvidence(ctx context.Context, js jetstream.JetStream, a *alert.Alert) (*Evidence, error) {
	cluster := a.Labels["cluster"]
	if cluster == "" {
		return nil, errors.New("the alert has no cluster label: no evidence to look up")
	}
	ev := &Evidence{}
	ev.From, ev.To = evidenceRange(a)
	prefix := event.LivePrefix
	start := ev.From.Add(-5 * time.Minute)
	if a.Drill {
		prefix = event.DrillPrefix
		start = a.CreatedAt.Add(-time.Hour)
	}
	subject := prefix + "." + event.Token(cluster) + ".>"
	oc, err := js.OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{subject}, DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
	})
	if err != nil {
		return nil, fmt.Errorf("read %s %s: %w", bus.StreamEvents, subject, err)
	}
	info, err := oc.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", bus.StreamEvents, err)
	}
	if info.NumPending == 0 {
		return ev, nil
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", bus.StreamEvents, err)
	}
	defer it.Stop()
	for n := 0; ; n++ {
		if n == MaxEvidenceRead {
			ev.Truncated = true
			break
		}
		m, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", bus.StreamEvents, err)
		}
		md, err := m.Metadata()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", bus.StreamEvents, err)
		}
		if e, err := event.Decode(m.Data()); err == nil && e.Cluster == cluster && !e.Time.Before(ev.From) && !e.Time.After(ev.To) {
			ev.Events = append(ev.Events, *e)
		}
		if md.NumPending == 0 || !a.Drill && md.Timestamp.After(ev.To.Add(10*time.Minute)) {
			break
		}
	}
	slices.SortStableFunc(ev.Events, func(x, y event.Event) int { return x.Time.Compare(y.Time) })
	return ev, nil
}

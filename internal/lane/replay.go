package lane

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
)

// Source is where a lane's events are stored, as its consumer and a
// rebuild read them: EVENTS for the single consumer and the fleet lane, a
// partition's share of EVENTS_PARTITIONED otherwise.
type Source struct {
	Stream string
	// Patterns are the stored subjects with %s for the class
	// (events.*.*.%s, part.3.events.*.%s); Whole means they are all the
	// stream holds, so reading every class needs no filter.
	Patterns []string
	Whole    bool
	// Sparse: the classes read are few among many (the fleet lane), so
	// filtering beats reading everything even in the last phase.
	Sparse bool
	// Sourced: the stored subject is not the published one, which (with
	// the EVENTS sequence) is in the sourcing header.
	Sourced bool
}

// Events is all of EVENTS.
func Events() Source {
	return Source{Stream: bus.StreamEvents, Patterns: []string{event.LivePrefix + ".*.*.%s", event.DrillPrefix + ".*.*.%s"}, Whole: true}
}

// published is the subject msg was published on and its EVENTS sequence.
func (src Source) published(msg jetstream.Msg, md meta) (string, uint64) {
	if src.Sourced {
		if seq, subj, ok := bus.Origin(msg.Headers()); ok {
			return subj, seq
		}
	}
	return msg.Subject(), md.stream
}

// replay feeds the lane's stored events to e: those up to acked silently,
// from each rule's horizon before now (or, when e was restored from a
// snapshot holding the events through from, those after it); those after
// acked (and after from), through delivered, for real (their alerts may
// never have been published), sending their alerts to the outbox. It
// returns how many events it read, in how many phases, and whether it
// sent alerts.
func (l *Lane) replay(ctx context.Context, e *correlate.Engine, now time.Time, from, acked, delivered uint64) (n, phases int, sent bool, err error) {
	plan := rebuildPlan(e.Set(), now, l.cfg.LatestHorizon)
	if from > 0 {
		plan = nil
		if acked > from {
			plan = []rebuildPhase{{fromSeq: from + 1, all: true, subjects: l.filters}}
		}
	}
	for _, p := range plan {
		k, _, err := l.replayPhase(ctx, e, p, acked, false)
		n += k
		if err != nil {
			return n, len(plan), false, err
		}
	}
	// Delivered, never acked: process for real, after what the snapshot
	// holds (it may hold some: their alerts are stored).
	if start := max(acked, from); delivered > start {
		k, s, err := l.replayPhase(ctx, e, rebuildPhase{fromSeq: start + 1, all: true, subjects: l.filters}, delivered, true)
		n += k
		if err != nil {
			return n, len(plan), s, err
		}
		sent = s
	}
	return n, len(plan), sent, nil
}

// replayPhase feeds the phase's events up to stream sequence through to
// e: silently, or for real (live) when their alerts may never have been
// published.
func (l *Lane) replayPhase(ctx context.Context, e *correlate.Engine, p rebuildPhase, through uint64, live bool) (int, bool, error) {
	src := l.cfg.Source
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: p.filters(src)}
	if p.fromSeq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, p.fromSeq
	} else {
		from := p.from
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
	}
	oc, err := l.cfg.JS.OrderedConsumer(ctx, src.Stream, cfg)
	if err != nil {
		return 0, false, fmt.Errorf("rebuild: ordered consumer: %w", err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		return 0, false, fmt.Errorf("rebuild: read %s: %w", src.Stream, err)
	}
	defer it.Stop()
	// left is what the server says remains (unknown: 0, and a silence is
	// the end); a silence while events remain is a stalled read, not the
	// end: windows short of them would miss events, and events delivered
	// but never acked would be acked as duplicates without their alerts.
	var left uint64
	if ci, err := oc.Info(ctx); err == nil {
		if ci.NumPending == 0 {
			return 0, false, nil
		}
		left = ci.NumPending
	}
	n, sent := 0, false
	for {
		msg, err := it.Next(jetstream.NextMaxWait(l.cfg.Timeouts.ReadWait))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
				if left > 0 {
					return n, sent, fmt.Errorf("rebuild: read %s stalled: nothing for %s with %d events left", src.Stream, l.cfg.Timeouts.ReadWait, left)
				}
				return n, sent, nil
			}
			return n, sent, fmt.Errorf("rebuild: read %s: %w", src.Stream, err)
		}
		md, err := metaOf(msg)
		if err != nil {
			return n, sent, fmt.Errorf("rebuild: %w", err)
		}
		left = md.pending
		if md.stream > through || !p.until.IsZero() && !md.timestamp.Before(p.until) {
			return n, sent, nil
		}
		if p.wants(msg.Subject()) {
			s, err := l.replayOne(ctx, e, msg, md, live)
			if err != nil {
				return n, sent, err
			}
			sent = sent || s
			n++
		}
		if md.pending == 0 {
			return n, sent, nil
		}
	}
}

// replayOne feeds one stored event to e; live means its alerts may not
// have been published yet. It reports whether it sent alerts, and fails
// when they could not be queued (shutting down): the engine holds the
// event now, so its redelivery would be acked as a duplicate without them.
func (l *Lane) replayOne(ctx context.Context, e *correlate.Engine, msg jetstream.Msg, md meta, live bool) (bool, error) {
	subject, _ := l.cfg.Source.published(msg, md)
	drill, err := event.IsDrill(subject)
	if err != nil {
		return false, nil
	}
	ev, err := event.Decode(msg.Data())
	if err != nil || ev.CheckSubject(subject) != nil {
		return false, nil // dead-lettered when first seen
	}
	alerts := e.Process(ev, correlate.Meta{Drill: drill, Arrival: md.timestamp, Replay: !live})
	if len(alerts) == 0 {
		return false, nil
	}
	if !l.cfg.Alerts.Send(ctx, alerts, nil) {
		return false, fmt.Errorf("rebuild: alerts of event %s (stream seq %d) not queued: the lane is stopping", ev.ID, md.stream)
	}
	return true, nil
}

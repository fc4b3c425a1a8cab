package router

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// rebuildSlack widens every horizon: stored time and event time differ by
// delivery delay and clock skew.
const rebuildSlack = 2 * time.Minute

// rebuildPhase reads the classes whose rules reach back to from.
type rebuildPhase struct {
	from    time.Time
	fromSeq uint64    // instead of from
	until   time.Time // zero: to the end
	classes []event.Class
	all     bool
	last    bool // the shortest horizon: read unfiltered
}

// wants reports whether the phase replays events of subject.
func (p rebuildPhase) wants(subject string) bool {
	if p.all {
		return true
	}
	i := strings.LastIndexByte(subject, '.')
	return slices.Contains(p.classes, event.Class(subject[i+1:]))
}

// rebuildPlan splits the read-back by how far each subject class must go:
// a 7-day fleet rule on reboots must not make the rebuild read 7 days of
// heartbeats. Phases run oldest first, each reading only the classes that
// need its span; the last one reads every class any rule needs.
func rebuildPlan(set *rule.Set, now time.Time, latestHorizon time.Duration) []rebuildPhase {
	need := map[event.Class]time.Duration{}
	all := time.Duration(0)
	classes := []event.Class{event.ClassKernel, event.ClassReboot, event.ClassDNS, event.ClassRPC, event.ClassHeartbeat, event.ClassPosture, event.ClassApp}
	for _, c := range set.Rules {
		h := c.Horizon()
		if h == 0 {
			continue
		}
		if c.Types.All || len(c.Types.Prefixes) > 0 {
			all = max(all, h)
			continue
		}
		for _, t := range c.Types.Types {
			if t == rule.TypeAlert {
				continue // derived inside the engine, never stored
			}
			need[event.ClassOf(t)] = max(need[event.ClassOf(t)], h)
		}
		for _, t := range c.LatestTypes {
			need[event.ClassOf(t)] = max(need[event.ClassOf(t)], latestHorizon)
		}
	}
	for _, c := range set.Rules {
		for _, t := range c.LatestTypes {
			need[event.ClassOf(t)] = max(need[event.ClassOf(t)], latestHorizon)
		}
	}
	for _, cl := range classes {
		need[cl] = max(need[cl], all)
	}
	var horizons []time.Duration
	for _, h := range need {
		if h > 0 && !slices.Contains(horizons, h) {
			horizons = append(horizons, h)
		}
	}
	slices.Sort(horizons)
	slices.Reverse(horizons)
	var plan []rebuildPhase
	for i, h := range horizons {
		p := rebuildPhase{from: now.Add(-h - rebuildSlack)}
		if i+1 < len(horizons) {
			p.until = now.Add(-horizons[i+1] - rebuildSlack)
		}
		for _, cl := range classes {
			if need[cl] >= h {
				p.classes = append(p.classes, cl)
			}
		}
		p.all = len(p.classes) == len(classes)
		p.last = i == len(horizons)-1
		plan = append(plan, p)
	}
	return plan
}

// filters are the server-side subject filters of a phase over src. Only
// the long phases use them (days of heartbeats are what they skip):
// filtering every message by many wildcard subjects costs the server more
// than reading them, so the shortest phase reads everything (of src's
// subjects) and skips what it does not need (wants) itself, unless src is
// sparse.
func (p rebuildPhase) filters(src replaySource) []string {
	var out []string
	if p.all || p.last && !src.sparse {
		if src.whole {
			return nil
		}
		for _, pat := range src.patterns {
			out = append(out, fmt.Sprintf(pat, ">"))
		}
		return out
	}
	for _, cl := range p.classes {
		for _, pat := range src.patterns {
			out = append(out, fmt.Sprintf(pat, cl))
		}
	}
	return out
}

// replaySource is where a rebuild reads events back from, and the engine
// it feeds: EVENTS for the single consumer, a lane's share of
// EVENTS_PARTITIONED or EVENTS for a partitioned router.
type replaySource struct {
	stream string
	// patterns are the stored subjects with %s for the class
	// (events.*.*.%s, part.3.events.*.%s); whole means they are all the
	// stream holds, so reading every class needs no filter.
	patterns []string
	whole    bool
	// sparse: the classes read are few among many (the fleet lane), so
	// filtering beats reading everything even in the last phase.
	sparse bool
	// sourced: the stored subject is not the published one, which (with
	// the EVENTS sequence) is in the sourcing header.
	sourced bool
	engine  *correlate.Engine
}

// eventsSource is all of EVENTS.
func eventsSource(e *correlate.Engine) replaySource {
	return replaySource{stream: bus.StreamEvents, patterns: []string{event.LivePrefix + ".*.*.%s", event.DrillPrefix + ".*.*.%s"}, whole: true, engine: e}
}

// published is the subject msg was published on and its EVENTS sequence.
func (src replaySource) published(msg jetstream.Msg, md *jetstream.MsgMetadata) (string, uint64) {
	if src.sourced {
		if seq, subj, ok := bus.Origin(msg.Headers()); ok {
			return subj, seq
		}
	}
	return msg.Subject(), md.Sequence.Stream
}

// rebuild reads EVENTS back through ordered consumers (which leave the
// durable consumer's position alone) to restore window state after a
// restart: the stream is the state. Events the durable consumer had acked
// are replayed silently (their alerts were published); events delivered but
// not acked are processed for real and their alerts published (ids make
// a repeat harmless), and the durable consumer then skips them.
func (r *Router) rebuild(ctx context.Context) error {
	start := time.Now()
	cons, err := r.conn.JS.Consumer(ctx, bus.StreamEvents, r.opts.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		r.log.Info("no rule-evaluation consumer yet: nothing to rebuild")
		return nil
	}
	if err != nil {
		return fmt.Errorf("rebuild: consumer info: %w", err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("rebuild: consumer info: %w", err)
	}
	acked, delivered := info.AckFloor.Stream, info.Delivered.Stream
	if delivered == 0 {
		return nil
	}
	n, phases, err := r.replay(ctx, eventsSource(r.engine), start, acked, delivered)
	if err != nil {
		return err
	}
	r.lastSeq.Store(delivered)
	r.m.rebuildEvents.Add(float64(n))
	r.m.rebuildSeconds.Set(time.Since(start).Seconds())
	r.log.Info("window state rebuilt from EVENTS", "events", n, "phases", phases, "acked_through", acked, "delivered_through", delivered, "took", time.Since(start).String())
	return nil
}

// replay feeds src's events to its engine: those up to acked silently,
// from each rule's horizon before now; those after, through delivered, for
// real (their alerts may never have been published). It returns how many
// events it read and in how many phases.
func (r *Router) replay(ctx context.Context, src replaySource, now time.Time, acked, delivered uint64) (int, int, error) {
	plan := rebuildPlan(src.engine.Set(), now, r.opts.Topology.EventsMaxAge)
	var n int
	for _, p := range plan {
		k, err := r.replayPhase(ctx, src, p, acked, false)
		n += k
		if err != nil {
			return n, len(plan), err
		}
	}
	if delivered > acked { // delivered, never acked: process for real
		k, err := r.replayPhase(ctx, src, rebuildPhase{fromSeq: acked + 1, all: true}, delivered, true)
		n += k
		if err != nil {
			return n, len(plan), err
		}
	}
	return n, len(plan), nil
}

// replayPhase feeds the phase's events up to stream sequence through to
// the engine: silently, or for real (live) when their alerts may never
// have been published.
func (r *Router) replayPhase(ctx context.Context, src replaySource, p rebuildPhase, through uint64, live bool) (int, error) {
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: p.filters(src)}
	if p.fromSeq > 0 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, p.fromSeq
	} else {
		from := p.from
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &from
	}
	oc, err := r.conn.JS.OrderedConsumer(ctx, src.stream, cfg)
	if err != nil {
		return 0, fmt.Errorf("rebuild: ordered consumer: %w", err)
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(1024))
	if err != nil {
		return 0, fmt.Errorf("rebuild: read %s: %w", src.stream, err)
	}
	defer it.Stop()
	if ci, err := oc.Info(ctx); err == nil && ci.NumPending == 0 {
		return 0, nil
	}
	n := 0
	for {
		msg, err := it.Next(jetstream.NextMaxWait(5 * time.Second))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout) {
				return n, nil
			}
			return n, fmt.Errorf("rebuild: read %s: %w", src.stream, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return n, fmt.Errorf("rebuild: message metadata: %w", err)
		}
		if md.Sequence.Stream > through || !p.until.IsZero() && !md.Timestamp.Before(p.until) {
			return n, nil
		}
		if p.wants(msg.Subject()) {
			r.replayOne(ctx, src, msg, md, live)
			n++
		}
		if md.NumPending == 0 {
			return n, nil
		}
	}
}

// replayOne feeds one stored event to the engine; live means its alerts
// may not have been published yet.
func (r *Router) replayOne(ctx context.Context, src replaySource, msg jetstream.Msg, md *jetstream.MsgMetadata, live bool) {
	subject, _ := src.published(msg, md)
	drill, err := event.IsDrill(subject)
	if err != nil {
		return
	}
	ev, err := event.Decode(msg.Data())
	if err != nil || ev.CheckSubject(subject) != nil {
		return // dead-lettered when first seen
	}
	alerts := src.engine.Process(ev, correlate.Meta{Drill: drill, Arrival: md.Timestamp, Replay: !live})
	for _, a := range alerts {
		r.publishRetrying(ctx, a, nil)
	}
}

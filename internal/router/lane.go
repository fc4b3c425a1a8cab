package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// pinGroup is the priority group of lane consumers: the server delivers a
// lane's events to the one pinned client of this group.
const pinGroup = "router"

// lane is a share of the events that one router at a time evaluates, with
// windows of its own: a partition of EVENTS_PARTITIONED (the clusters the
// server hashed there) or the fleet lane on EVENTS (rules that group across
// clusters). Its durable consumer pins one client, so even while two
// routers disagree about who owns it, only one receives its events.
type lane struct {
	name string
	// src is where its events are stored, as a rebuild reads them.
	src replaySource
	// fixedFilters are its consumer's filters; nil for the fleet lane,
	// whose follow its rules.
	fixedFilters []string
	durable      string
	r            *Router
	log          *slog.Logger

	mu     sync.Mutex // one event, rebuild or clock tick at a time
	engine *correlate.Engine
	// lastSeq is the last stream sequence the engine holds.
	lastSeq uint64
	// nextDseq is the consumer delivery sequence expected next; a larger
	// one means deliveries went to another router meanwhile (0: unknown).
	nextDseq uint64
	pending  atomic.Uint64

	// cc and filters belong to the partitioner's goroutine; owned mirrors
	// cc != nil for everyone else.
	cc      jetstream.ConsumeContext
	filters []string
	owned   atomic.Bool
}

// consumerConfig is the lane's consumer for the given filter and start.
func (l *lane) consumerConfig(filters []string, start uint64) jetstream.ConsumerConfig {
	o := l.r.opts
	cfg := jetstream.ConsumerConfig{
		Durable:        l.durable,
		Description:    "aftershock router: rule evaluation of " + l.name,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        o.AckWait,
		MaxDeliver:     -1,
		MaxAckPending:  1024,
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{pinGroup},
		// A router that stops pulling loses the pin after this long; its
		// heartbeat key ages out in the same time.
		PinnedTTL: o.MemberTTL,
	}
	if len(filters) == 1 {
		cfg.FilterSubject = filters[0]
	} else {
		cfg.FilterSubjects = filters
	}
	return cfg
}

// ensureConsumer creates the lane's consumer if it does not exist, starting
// after what the stream holds now, or updates its settings that may change.
func (l *lane) ensureConsumer(ctx context.Context, filters []string) (jetstream.Consumer, error) {
	js := l.r.conn.JS
	cons, err := js.Consumer(ctx, l.src.stream, l.durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		start, err := l.start(ctx)
		if err != nil {
			return nil, err
		}
		cons, err = js.CreateConsumer(ctx, l.src.stream, l.consumerConfig(filters, start))
		if errors.Is(err, jetstream.ErrConsumerExists) { // another router was first
			cons, err = js.Consumer(ctx, l.src.stream, l.durable)
		}
		if err != nil {
			return nil, fmt.Errorf("consumer %s on %s: %w", l.durable, l.src.stream, err)
		}
		return cons, nil
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", l.durable, l.src.stream, err)
	}
	have := cons.CachedInfo().Config
	want := l.consumerConfig(filters, have.OptStartSeq)
	want.DeliverPolicy, want.OptStartTime = have.DeliverPolicy, have.OptStartTime
	if have.AckWait != want.AckWait || have.PinnedTTL != want.PinnedTTL ||
		have.FilterSubject != want.FilterSubject || !slices.Equal(have.FilterSubjects, want.FilterSubjects) {
		if cons, err = js.UpdateConsumer(ctx, l.src.stream, want); err != nil {
			return nil, fmt.Errorf("update consumer %s on %s: %w", l.durable, l.src.stream, err)
		}
	}
	return cons, nil
}

// start is where a new consumer begins: after the events already stored,
// which a rebuild replays silently (see bus.PartitionStart).
func (l *lane) start(ctx context.Context) (uint64, error) {
	if l.src.stream == bus.StreamPartitioned {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		start, caught, err := bus.PartitionStart(wctx, l.r.conn.JS)
		if err == nil && !caught {
			l.log.Warn("partitioned stream still catching up with EVENTS; events sourced later are evaluated live", "start", start)
		}
		return start, err
	}
	st, err := l.r.conn.JS.Stream(ctx, l.src.stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", l.src.stream, err)
	}
	return st.CachedInfo().State.LastSeq + 1, nil
}

// acquire makes this router the lane's consumer: consumer in place,
// windows rebuilt, then pulling in the pinned group. The server hands it
// the events once the previous owner stops pulling (or unpins).
func (l *lane) acquire(ctx context.Context, filters []string) error {
	cons, err := l.ensureConsumer(ctx, filters)
	if err != nil {
		return err
	}
	l.mu.Lock()
	err = l.rebuild(ctx, "acquire", nil)
	from := l.lastSeq + 1
	if err != nil {
		l.engine = nil
	}
	l.mu.Unlock()
	if err != nil {
		return err
	}
	expiry := max(l.r.opts.MemberTTL/3, time.Second)
	cc, err := cons.Consume(l.handle,
		jetstream.PullPriorityGroup(pinGroup),
		jetstream.PullExpiry(expiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			l.log.Debug("consume", "err", err)
		}))
	if err != nil {
		l.mu.Lock()
		l.engine, l.nextDseq, l.lastSeq = nil, 0, 0 // not ours: no idle clock on it
		l.mu.Unlock()
		return fmt.Errorf("consume %s: %w", l.durable, err)
	}
	l.cc, l.filters = cc, filters
	l.owned.Store(true)
	l.log.Info("lane acquired", "from_seq", from)
	return nil
}

// release stops consuming (the event in hand finishes), unpins so the next
// owner gets the events at once, and drops the windows.
func (l *lane) release() {
	if l.cc == nil {
		return
	}
	l.cc.Drain()
	select {
	case <-l.cc.Closed():
	case <-time.After(l.r.opts.AckWait):
		l.log.Warn("lane did not drain in time")
	}
	l.cc = nil
	l.owned.Store(false)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if st, err := l.r.conn.JS.Stream(ctx, l.src.stream); err == nil {
		if err := st.UnpinConsumer(ctx, l.durable, pinGroup); err != nil {
			l.log.Debug("unpin", "err", err)
		}
	}
	l.mu.Lock()
	l.engine, l.nextDseq, l.lastSeq = nil, 0, 0
	l.mu.Unlock()
	l.log.Info("lane released")
}

// rebuild replaces the lane's windows with ones read back from its stream:
// what the consumer acked silently, what it delivered but did not ack for
// real. inflight, when set, is the event that revealed the need and is kept
// from redelivery meanwhile. l.mu is held.
func (l *lane) rebuild(ctx context.Context, reason string, inflight jetstream.Msg) error {
	begin := time.Now()
	if inflight != nil {
		stop := keepInProgress(inflight, l.r.opts.AckWait/3)
		defer stop()
	}
	cons, err := l.r.conn.JS.Consumer(ctx, l.src.stream, l.durable)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", l.name, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", l.name, err)
	}
	set := l.r.part.setFor(l)
	l.engine = correlate.New(set, l.log.With("component", "engine"), correlate.Options{})
	acked, delivered := info.AckFloor.Stream, info.Delivered.Stream
	src := l.src
	src.engine = l.engine
	n, phases, err := l.r.replay(ctx, src, begin, acked, delivered)
	if err != nil {
		l.nextDseq = 0
		return err
	}
	l.lastSeq, l.nextDseq = delivered, info.Delivered.Consumer+1
	// Caught up only once what waits (and what the previous owner held)
	// has been seen: the idle clock must not judge silences meanwhile.
	l.pending.Store(info.NumPending + uint64(max(info.NumAckPending, 0)))
	l.r.part.rebuilds.WithLabelValues(reason).Inc()
	l.r.m.rebuildEvents.Add(float64(n))
	l.log.Info("lane windows rebuilt", "reason", reason, "events", n, "phases", phases, "acked_through", acked, "delivered_through", delivered, "took", time.Since(begin).String())
	return nil
}

// keepInProgress tells the server every interval that msg is still being
// worked on, until the returned stop is called.
func keepInProgress(msg jetstream.Msg, every time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done) }
}

// handle is the lane's version of handleEvent: the same exactly-once rules,
// plus a rebuild when deliveries went elsewhere since this router last saw
// the lane (it lost the pin for a while, or just took the lane over).
func (l *lane) handle(msg jetstream.Msg) {
	r := l.r
	md, err := msg.Metadata()
	if err != nil {
		l.log.Warn("event without metadata", "subject", msg.Subject(), "err", err)
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.engine == nil { // released meanwhile: the next owner takes it
		_ = msg.Nak()
		return
	}
	if l.nextDseq == 0 || md.Sequence.Consumer > l.nextDseq {
		if err := l.rebuild(r.runCtx, "gap", msg); err != nil {
			l.log.Warn("lane rebuild failed; the event will be redelivered", "err", err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
	}
	l.nextDseq = max(l.nextDseq, md.Sequence.Consumer+1)
	l.pending.Store(md.NumPending)
	if md.Sequence.Stream <= l.lastSeq {
		_ = msg.Ack()
		r.m.events.WithLabelValues("duplicate").Inc()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.AckWait)
	defer cancel()
	subject, seq := l.src.published(msg, md)
	drill, err := event.IsDrill(subject)
	var ev *event.Event
	if err == nil {
		ev, err = event.Decode(msg.Data())
	}
	if err == nil {
		err = ev.CheckSubject(subject)
	}
	r.part.events.WithLabelValues(l.name).Inc()
	if err != nil {
		r.deadLetterAs(ctx, msg, subject, seq, err)
		return
	}
	began := time.Now()
	alerts := l.engine.Process(ev, correlate.Meta{Drill: drill, Arrival: md.Timestamp})
	r.m.evalSeconds.Observe(time.Since(began).Seconds())
	l.lastSeq = md.Sequence.Stream
	for _, a := range alerts {
		if !r.publishRetrying(r.runCtx, a, msg) {
			return
		}
	}
	if err := msg.Ack(); err != nil {
		l.log.Warn("ack event", "event", ev.ID, "err", err)
	}
	r.m.events.WithLabelValues("ok").Inc()
}

// advance is the idle clock for the lane, when it is caught up.
func (l *lane) advance(now time.Time) []*alert.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.engine == nil || l.nextDseq == 0 || l.pending.Load() > 0 {
		return nil
	}
	return l.engine.Advance(now)
}

// swap installs a reloaded rule subset, keeping unchanged rules' windows.
func (l *lane) swap(set *rule.Set) []*alert.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.engine == nil {
		return nil
	}
	return l.engine.Swap(set)
}

// currentEngine is the lane's engine, nil while not owned.
func (l *lane) currentEngine() *correlate.Engine {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.engine
}

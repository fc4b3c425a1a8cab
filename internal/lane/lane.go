// Package lane evaluates a share of the events with a rule engine of its
// own. Both router modes run lanes: one lane on the durable consumer every
// router shares, or, partitioned (--partitions), a lane per partition plus
// the drills and fleet lanes, each consumed by one router at a time
// through a pinned consumer.
//
// A lane's rules are exactly-once in effect: an event is acked only once
// the alerts it raised are stored (through an outbox, asynchronously), a
// redelivery of an event the engine already holds is not counted twice,
// and the windows are rebuilt from the stream when the lane starts (or,
// pinned, when deliveries went to another router meanwhile).
package lane

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/rule"
)

// PinGroup is the priority group of pinned lane consumers: the server
// delivers a lane's events to the one pinned client of this group.
const PinGroup = "router"

// Config configures a lane.
type Config struct {
	// Name is the lane's (p0…, drills, fleet); "" for the single consumer.
	Name    string
	Durable string
	Source  Source
	// Pinned: the consumer pins one client, is created starting after the
	// events already stored, and a gap in its delivery sequence (events
	// delivered to another router) rebuilds the windows.
	Pinned bool
	// AckWait is the consumer's; PinnedTTL how long a router that stops
	// pulling keeps the pin.
	AckWait, PinnedTTL time.Duration
	// PinFile, for a pinned lane, keeps the pin id the server gave this
	// process, for the next process of the same router (see notePin).
	PinFile       string
	MaxAckPending int
	// LatestHorizon is how far back a rebuild reads for latest() (the
	// stream's max age).
	LatestHorizon time.Duration
	Timeouts      Timeouts

	// Snapshots, when set, keeps the windows' snapshots (the WINDOWS
	// object store), saved every SnapshotEvery (see snapshot.go).
	Snapshots     jetstream.ObjectStore
	SnapshotEvery time.Duration

	JS     jetstream.JetStream
	Alerts *Alerts
	// Rules returns the rule set the lane runs now.
	Rules   func() *rule.Set
	Metrics Metrics
	Log     *slog.Logger
}

// Timeouts bound a lane's calls to NATS.
type Timeouts struct {
	// ReadWait is how long a rebuild waits for the next stored event.
	ReadWait time.Duration
	// StartWait bounds finding where a new partition consumer starts.
	StartWait time.Duration
	// Unpin bounds the unpin after a release.
	Unpin time.Duration
}

// Metrics are the lane's counters (nil fields are not counted).
type Metrics struct {
	// Events by outcome: ok, duplicate, dead_letter.
	Events *prometheus.CounterVec
	// Lane counts events this lane evaluated or dead-lettered.
	Lane           prometheus.Counter
	Rebuilds       *prometheus.CounterVec // by reason: acquire, gap
	RebuildEvents  prometheus.Counter
	RebuildSeconds prometheus.Gauge
	// Eval times the engine on one event.
	Eval prometheus.Observer
	// Snapshots by outcome: saved, unacked (not saved: events not acked
	// in time), failed, restored, refused (a replay instead).
	Snapshots     *prometheus.CounterVec
	SnapshotBytes prometheus.Gauge
}

// Lane is one share of the events and its windows.
type Lane struct {
	cfg Config
	log *slog.Logger

	// engine is nil while the lane is not this router's.
	engine atomic.Pointer[correlate.Engine]
	// mu orders evaluation with the clock and reloads; it is held only
	// while the engine works, never while waiting on NATS.
	mu sync.Mutex
	// lastSeq is the last stream sequence the engine holds.
	lastSeq uint64
	// rebuiltSeq: the last rebuild stored the alerts of every event up
	// to it, those it evaluated unacked included (acked only when
	// redelivered).
	rebuiltSeq uint64
	// nextDseq is the delivery sequence expected next; a larger one means
	// deliveries went to another router meanwhile (0: unknown).
	nextDseq uint64
	pending  atomic.Uint64
	held     held
	// gaveUp says a handler gave up storing an event's alerts (a release
	// cancelled it): that event's ack will not come (see Release).
	gaveUp atomic.Bool
	// acks is set by Acquire, for the consumer it consumes.
	acks *acks
	// pinID is the last pin id kept in PinFile (the consume goroutine's).
	pinID string
	// savedSeq is the sequence of the last snapshot saved; created the
	// source stream's creation time (a snapshot names its stream's).
	savedSeq uint64
	created  time.Time
	// outcomes are Metrics.Events' children, resolved once.
	outcomes map[string]prometheus.Counter

	// The fields below belong to the caller of Acquire and Release.
	cc      jetstream.ConsumeContext
	filters []string
	cancel  context.CancelFunc
	ctx     context.Context
	keep    sync.WaitGroup
	owned   atomic.Bool
}

// New returns a lane; Acquire starts it.
func New(cfg Config) *Lane {
	log := cfg.Log
	if cfg.Name != "" {
		log = log.With("lane", cfg.Name)
	}
	if cfg.Timeouts.ReadWait <= 0 {
		cfg.Timeouts.ReadWait = 5 * time.Second
	}
	if cfg.Timeouts.StartWait <= 0 {
		cfg.Timeouts.StartWait = 30 * time.Second
	}
	if cfg.Timeouts.Unpin <= 0 {
		cfg.Timeouts.Unpin = 5 * time.Second
	}
	if cfg.MaxAckPending <= 0 {
		cfg.MaxAckPending = 1024
	}
	if cfg.SnapshotEvery <= 0 {
		cfg.SnapshotEvery = DefaultSnapshotEvery
	}
	l := &Lane{cfg: cfg, log: log, held: held{m: map[uint64]heldMsg{}}, outcomes: map[string]prometheus.Counter{}}
	if cfg.Metrics.Events != nil {
		for _, o := range []string{"ok", "duplicate", "dead_letter"} {
			l.outcomes[o] = cfg.Metrics.Events.WithLabelValues(o)
		}
	}
	return l
}

// Name is the lane's name ("" for the single consumer).
func (l *Lane) Name() string { return l.cfg.Name }

// Engine is the lane's rule engine, nil while the lane is not this
// router's. It never waits.
func (l *Lane) Engine() *correlate.Engine { return l.engine.Load() }

// Owned reports whether this router consumes the lane now.
func (l *Lane) Owned() bool { return l.owned.Load() }

// Filters are the consumer filters the lane was acquired with.
func (l *Lane) Filters() []string { return l.filters }

// Acquire makes this router the lane's consumer: consumer in place,
// windows rebuilt, then consuming (pinned: in the pinned group, so the
// server hands it the events once the previous owner stops pulling or
// unpins). filters are the consumer's subject filters (nil: all).
func (l *Lane) Acquire(ctx context.Context, filters []string) error {
	cons, err := l.ensureConsumer(ctx, filters)
	if err != nil {
		return err
	}
	l.ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	l.gaveUp.Store(false)
	l.filters = filters // what the rebuild reads after a snapshot
	l.acks = newAcks(cons.CachedInfo().Config.AckPolicy == jetstream.AckAllPolicy, l.log)
	if l.cfg.Pinned {
		l.unpinPredecessor(ctx, cons.CachedInfo())
	}
	if err := l.rebuild(ctx, "acquire", nil); err != nil {
		l.cancel()
		l.drop()
		return err
	}
	opts := []jetstream.PullConsumeOpt{jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		l.log.Debug("consume", "consumer", l.cfg.Durable, "err", err)
	})}
	if l.cfg.Pinned {
		opts = append(opts, jetstream.PullPriorityGroup(PinGroup), jetstream.PullExpiry(max(l.cfg.PinnedTTL/3, time.Second)))
	}
	cc, err := cons.Consume(l.handle, opts...)
	if err != nil {
		l.cancel()
		l.drop() // not ours: no idle clock on it
		return fmt.Errorf("consume %s: %w", l.cfg.Durable, err)
	}
	l.cc = cc
	l.keep.Go(func() { l.keepHeld(l.ctx) })
	l.keep.Go(func() { l.snapshotLoop(l.ctx) })
	l.owned.Store(true)
	if l.cfg.Pinned {
		l.mu.Lock()
		from := l.lastSeq + 1
		l.mu.Unlock()
		l.log.Info("lane acquired", "from_seq", from)
	}
	return nil
}

// drop forgets the windows: the lane is not this router's.
func (l *Lane) drop() {
	l.mu.Lock()
	l.engine.Store(nil)
	l.nextDseq, l.lastSeq, l.rebuiltSeq = 0, 0, 0
	l.mu.Unlock()
}

// Release stops consuming (the event in hand finishes, within AckWait),
// unpins so the next owner gets the events at once, and drops the windows.
func (l *Lane) Release() {
	if l.cc == nil {
		return
	}
	// Cancelled first: a handler waiting on a full outbox (NATS away)
	// gives up and leaves its event unacked for the next owner.
	l.cancel()
	l.cc.Drain()
	select {
	case <-l.cc.Closed():
	case <-time.After(l.cfg.AckWait):
		l.log.Warn("lane did not drain in time", "consumer", l.cfg.Durable)
	}
	l.keep.Wait()
	l.cc = nil
	l.acks.flush() // the next owner starts after them
	// What the last events raised is stored by now, or soon (the outbox
	// closes after the lanes): the next owner starts from here.
	// Not when a handler gave up on an event: the snapshot would wait
	// Timeouts.Unpin for its ack, which does not come, and hold back the
	// next owner, and a page, that long (TestReleaseAfterGivingUp).
	if l.gaveUp.Load() {
		l.log.Info("no window snapshot at release", "err", "an event's alerts were not stored: the next owner evaluates it again")
	} else {
		sctx, scancel := context.WithTimeout(context.Background(), l.cfg.Timeouts.Unpin)
		if err := l.saveSnapshot(sctx, l.cfg.Timeouts.Unpin); err != nil {
			l.log.Info("no window snapshot at release", "err", err)
		}
		scancel()
	}
	l.owned.Store(false)
	if l.cfg.Pinned {
		ctx, cancel := context.WithTimeout(context.Background(), l.cfg.Timeouts.Unpin)
		defer cancel()
		if st, err := l.cfg.JS.Stream(ctx, l.cfg.Source.Stream); err == nil {
			if err := st.UnpinConsumer(ctx, l.cfg.Durable, PinGroup); err != nil {
				l.log.Debug("unpin", "err", err)
			}
		}
		l.log.Info("lane released")
	}
	l.drop()
}

// rebuild replaces the windows with ones read back from the stream: what
// the consumer acked silently, what it delivered but did not ack for real
// (their alerts are stored before it returns: the events are acked as
// duplicates when redelivered). inflight, when set, is the event that
// revealed the need and is kept from redelivery meanwhile. The engine in
// use is left alone until the new one is ready; the clock waits.
func (l *Lane) rebuild(ctx context.Context, reason string, inflight jetstream.Msg) error {
	begin := time.Now()
	if inflight != nil {
		stop := keepInProgress(inflight, l.cfg.AckWait/3)
		defer stop()
	}
	l.mu.Lock()
	l.nextDseq = 0 // the clock must not judge silences meanwhile
	l.mu.Unlock()
	cons, err := l.cfg.JS.Consumer(ctx, l.cfg.Source.Stream, l.cfg.Durable)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", l.cfg.Durable, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", l.cfg.Durable, err)
	}
	set := l.cfg.Rules()
	acked, delivered := info.AckFloor.Stream, info.Delivered.Stream
	st, err := l.cfg.JS.Stream(ctx, l.cfg.Source.Stream)
	if err != nil {
		return fmt.Errorf("rebuild %s: %w", l.cfg.Durable, err)
	}
	l.mu.Lock()
	l.created = st.CachedInfo().Created
	l.mu.Unlock()
	e, from := l.restoreSnapshot(ctx, set, begin, delivered, st.CachedInfo())
	if e == nil {
		e = correlate.New(set, l.log.With("component", "engine"), correlate.Options{})
	}
	n, phases, sent, err := l.replay(ctx, e, begin, from, acked, delivered)
	if err == nil && sent {
		err = l.cfg.Alerts.Out.Flush(ctx)
	}
	if err != nil {
		return err
	}
	l.mu.Lock()
	if now := l.cfg.Rules(); now != set { // reloaded meanwhile
		l.cfg.Alerts.Send(ctx, e.Swap(now), nil)
	}
	l.engine.Store(e)
	l.lastSeq, l.nextDseq = delivered, info.Delivered.Consumer+1
	l.rebuiltSeq = delivered
	l.savedSeq = from
	// Caught up only once what waits (and what the previous owner held)
	// has been seen: the idle clock must not judge silences meanwhile.
	l.pending.Store(info.NumPending + uint64(max(info.NumAckPending, 0)))
	l.mu.Unlock()
	m := l.cfg.Metrics
	if m.Rebuilds != nil {
		m.Rebuilds.WithLabelValues(reason).Inc()
	}
	if m.RebuildEvents != nil {
		m.RebuildEvents.Add(float64(n))
	}
	if m.RebuildSeconds != nil {
		m.RebuildSeconds.Set(time.Since(begin).Seconds())
	}
	if n > 0 || l.cfg.Pinned {
		l.log.Info("windows rebuilt", "stream", l.cfg.Source.Stream, "reason", reason, "events", n, "phases", phases, "snapshot_seq", from,
			"acked_through", acked, "delivered_through", delivered, "took", time.Since(begin).String())
	}
	return nil
}

// Tick runs the idle clock to now when the lane is caught up: with a
// whole cluster silent, absence must still be judged, but a backlog being
// consumed must never look like every node going silent.
func (l *Lane) Tick(ctx context.Context, now time.Time) {
	l.mu.Lock()
	e := l.engine.Load()
	if e == nil || l.nextDseq == 0 || l.pending.Load() > 0 {
		l.mu.Unlock()
		return
	}
	alerts := e.Advance(now)
	l.mu.Unlock()
	if len(alerts) > 0 {
		l.cfg.Alerts.Send(ctx, alerts, nil)
	}
}

// Swap installs a reloaded rule set, keeping unchanged rules' windows; the
// alerts of removed rules resolve. It returns how many.
func (l *Lane) Swap(ctx context.Context, set *rule.Set) int {
	l.mu.Lock()
	e := l.engine.Load()
	if e == nil {
		l.mu.Unlock()
		return 0
	}
	resolved := e.Swap(set)
	l.mu.Unlock()
	if len(resolved) > 0 {
		l.cfg.Alerts.Send(ctx, resolved, nil)
	}
	return len(resolved)
}

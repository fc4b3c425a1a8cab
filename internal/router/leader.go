package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/lease"
)

// NotifierLease is the key in the ROUTERS bucket whose holder delivers
// alerts. The lifecycle (groups, repeat timers, throttles) lives in one
// process's memory, so of several routers exactly one runs it; the others
// stand by and take over when the holder stops or dies (within the
// bucket's TTL, --member-ttl). The evaluation of events is shared
// separately (--partitions).
const NotifierLease = leasePrefix + "notifier"

// leasePrefix sets leases apart from router heartbeat keys in ROUTERS.
const leasePrefix = "lease."

// leadNotifier runs the notifier now if this router gets the lease, else
// stands by in the background until it does. A NATS outage does not lose
// the lease: it is renewed, or re-acquired if it expired meanwhile, when
// NATS is back (lease.Keep). A leader that loses it (another router holds
// it: a partition outlasted the TTL) fails the router: a fresh start rejoins as a standby with state read from
// ALERT_STATE, which is simpler and safer than unwinding a running
// lifecycle.
func (r *Router) leadNotifier(ctx context.Context, d *dispatch.Dispatcher, log *slog.Logger) error {
	kv, err := r.conn.JS.KeyValue(ctx, bus.BucketRouters)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", bus.BucketRouters, err)
	}
	leader := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "aftershock_router_notifier_leader",
		Help: "1 when this router holds the notifier lease and delivers alerts; 0 on a standby.",
	})
	r.ops.Registry.MustRegister(leader)
	lo := lease.Options{Key: NotifierLease, Holder: fmt.Sprintf("%s/%d-%d", r.opts.RouterID, os.Getpid(), time.Now().UnixNano()), TTL: r.opts.MemberTTL, Log: log}
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n := &notifierRun{r: r, d: d, log: log, leader: leader, cancelWait: cancel}
	r.notify = n
	r.stops = append(r.stops, n.stop)
	l, err := lease.TryAcquire(ctx, kv, lo)
	if err != nil {
		return err
	}
	if l != nil {
		// The lifecycle's state (every unresolved alert) is restored in
		// the background: a start, and the evaluation of events, do not
		// wait for it; alerts wait in ALERTS meanwhile.
		n.wg.Go(func() {
			if err := n.lead(wctx, l); err != nil && wctx.Err() == nil {
				r.fail(fmt.Errorf("notifier: %w", err))
			}
		})
		return nil
	}
	log.Info("notifier standing by: another router holds the lease", "lease", NotifierLease)
	n.wg.Go(func() {
		l, err := lease.Acquire(wctx, kv, lo)
		if err != nil || l == nil {
			return // stopped while standing by
		}
		log.Info("notifier lease acquired: taking over delivery")
		if err := n.lead(wctx, l); err != nil && wctx.Err() == nil {
			r.fail(fmt.Errorf("notifier take-over: %w", err))
		}
	})
	return nil
}

// notifierRun is the notifier's leadership: the dispatcher, its consumer and
// the lease renewal, stopped in that order.
type notifierRun struct {
	r          *Router
	d          *dispatch.Dispatcher
	log        *slog.Logger
	leader     prometheus.Gauge
	wg         sync.WaitGroup
	mu         sync.Mutex
	cancelWait context.CancelFunc
	stops      []func()
	stopped    bool
}

func (n *notifierRun) lead(ctx context.Context, l *lease.Lease) error {
	r := n.r
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped {
		releaseLease(l)
		return nil
	}
	began := time.Now()
	// NATS may be away for a while: the restore waits for it rather than
	// failing the router (nothing has started until it succeeds).
	if err := n.retry(ctx, "restore alert state", func() error { return n.d.Start(ctx) }); err != nil {
		releaseLease(l)
		return err
	}
	n.stops = append(n.stops, n.d.Close)
	cfg := jetstream.ConsumerConfig{
		Durable:       r.opts.Consumer + "-notify",
		Description:   "aftershock router: alert lifecycle and delivery",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       r.opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 4096,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	var cons jetstream.Consumer
	if err := n.retry(ctx, "create the ALERTS consumer", func() (err error) {
		cons, err = r.conn.JS.CreateOrUpdateConsumer(ctx, bus.StreamAlerts, cfg)
		return err
	}); err != nil {
		return fmt.Errorf("consumer %s on %s: %w", cfg.Durable, bus.StreamAlerts, err)
	}
	handle := n.d.Handler(r.conn.JS, n.log)
	if err := n.catchUp(ctx, cons.CachedInfo(), handle); err != nil {
		n.log.Warn("alerts delivered to the previous notifier not read back; they come again after the ack wait", "err", err)
	}
	cc, err := cons.Consume(handle, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		n.log.Debug("consume", "consumer", cfg.Durable, "err", err)
	}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", cfg.Durable, err)
	}
	n.stops = append(n.stops, r.drainer(cc, cfg.Durable))
	kctx, stopKeep := context.WithCancel(context.WithoutCancel(ctx))
	kept := make(chan struct{})
	go func() {
		defer close(kept)
		if err := l.Keep(kctx); errors.Is(err, lease.ErrLost) {
			n.leader.Set(0)
			r.fail(err)
		}
	}()
	// Released last, once delivery has stopped: the standby must not start
	// while this one still sends.
	n.stops = append([]func(){func() { stopKeep(); <-kept; n.leader.Set(0) }}, n.stops...)
	n.leader.Set(1)
	n.log.Info("notifier delivering alerts", "lease", NotifierLease, "restored_in", time.Since(began).Round(time.Millisecond).String())
	return nil
}

// catchUp hands the lifecycle the alerts the consumer had delivered to a
// notifier that died before acking them: read back now, not redelivered
// after the ack wait (30s by default). The lifecycle takes a repeat as a
// duplicate, so their redelivery later changes nothing.
func (n *notifierRun) catchUp(ctx context.Context, info *jetstream.ConsumerInfo, handle jetstream.MessageHandler) error {
	from, through := info.AckFloor.Stream+1, info.Delivered.Stream
	if info.Delivered.Stream <= info.AckFloor.Stream {
		return nil
	}
	oc, err := n.r.conn.JS.OrderedConsumer(ctx, bus.StreamAlerts, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: from,
	})
	if err != nil {
		return fmt.Errorf("read back ALERTS %d-%d: %w", from, through, err)
	}
	it, err := oc.Messages()
	if err != nil {
		return fmt.Errorf("read back ALERTS %d-%d: %w", from, through, err)
	}
	defer it.Stop()
	read := 0
	for {
		msg, err := it.Next(jetstream.NextMaxWait(n.r.opts.Timeouts.RebuildRead))
		if err != nil {
			return fmt.Errorf("read back ALERTS %d-%d after %d: %w", from, through, read, err)
		}
		md, err := msg.Metadata()
		if err != nil || md.Sequence.Stream > through {
			break
		}
		handle(msg) // its ack is refused (an ordered consumer's): harmless
		read++
		if md.Sequence.Stream == through || md.NumPending == 0 {
			break
		}
	}
	n.log.Info("alerts delivered to the previous notifier read back", "alerts", read, "from_seq", from, "through_seq", through)
	return nil
}

// stop stops standing by, or stops delivery and then releases the lease.
func (n *notifierRun) stop() {
	n.cancelWait() // first: a lead waiting for NATS holds mu
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()
	n.wg.Wait()
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.stops) - 1; i >= 0; i-- {
		n.stops[i]()
	}
	n.stops = nil
}

// retry runs f until it succeeds or ctx ends, waiting between attempts.
func (n *notifierRun) retry(ctx context.Context, what string, f func() error) error {
	wait := 100 * time.Millisecond
	for {
		err := f()
		if err == nil || ctx.Err() != nil {
			return err
		}
		n.log.Warn("notifier: "+what+" failed; retrying", "in", wait.String(), "err", err)
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// releaseLease gives l up at once: Keep releases the lease when its
// context is done.
func releaseLease(l *lease.Lease) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_ = l.Keep(ctx)
}

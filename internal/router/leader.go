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
	n := &notifierRun{r: r, d: d, log: log, leader: leader}
	r.notify = n
	r.stops = append(r.stops, n.stop)
	l, err := lease.TryAcquire(ctx, kv, lo)
	if err != nil {
		return err
	}
	if l != nil {
		return n.lead(ctx, l)
	}
	log.Info("notifier standing by: another router holds the lease", "lease", NotifierLease)
	wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	n.mu.Lock()
	n.cancelWait = cancel
	n.mu.Unlock()
	n.wg.Go(func() {
		l, err := lease.Acquire(wctx, kv, lo)
		if err != nil || l == nil {
			return // stopped while standing by
		}
		log.Info("notifier lease acquired: taking over delivery")
		if err := n.lead(wctx, l); err != nil {
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
		return nil
	}
	if err := n.d.Start(ctx); err != nil {
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
	cons, err := r.conn.JS.CreateOrUpdateConsumer(ctx, bus.StreamAlerts, cfg)
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", cfg.Durable, bus.StreamAlerts, err)
	}
	cc, err := cons.Consume(n.d.Handler(r.conn.JS, n.log), jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
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
	n.log.Info("notifier delivering alerts", "lease", NotifierLease)
	return nil
}

// stop stops standing by, or stops delivery and then releases the lease.
func (n *notifierRun) stop() {
	n.mu.Lock()
	n.stopped = true
	if n.cancelWait != nil {
		n.cancelWait()
	}
	n.mu.Unlock()
	n.wg.Wait()
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.stops) - 1; i >= 0; i-- {
		n.stops[i]()
	}
	n.stops = nil
}

package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/embedded"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/ingest"
	"github.com/aftershock/aftershock/internal/lane"
	"github.com/aftershock/aftershock/internal/opshttp"
	"github.com/aftershock/aftershock/internal/outbox"
	"github.com/aftershock/aftershock/internal/rule"
)

// Router is a running router: the composition root that connects,
// provisions, and wires the lanes (internal/lane), the outbox
// (internal/outbox), the notifier (internal/dispatch) and the reloads
// together. Start it with Start; Run wraps the lifecycle.
type Router struct {
	opts  Options
	log   *slog.Logger
	conn  *bus.Conn
	ops   *opshttp.Server
	m     *metrics
	ready atomic.Bool
	stops []func()
	// out stores alerts and dead letters; alerts publishes through it.
	out    *outbox.Outbox
	alerts *lane.Alerts
	// snap is what runs: rules and routing, loaded and checked as one.
	snap atomic.Pointer[snapshot]
	// single is the one lane on the shared consumer; part runs the
	// partitioned mode (Options.Partitions) instead.
	single *lane.Lane
	part   *partitioner
	notify *notifierRun
	// windows holds the lanes' window snapshots.
	windows jetstream.ObjectStore
	// failed carries the error that makes a running router give up (see
	// Failed).
	failed chan error
	rulesRuntime
}

// Run starts a router and blocks until ctx ends, then shuts down gracefully:
// in-flight events finish and are acked, and the process may exit 0.
func Run(ctx context.Context, opts Options, log *slog.Logger) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	r, err := Start(ctx, opts, log)
	if err != nil {
		return err
	}
	for {
		select {
		case <-hup:
			log.Info("SIGHUP: reloading rules")
			_ = r.Reload(ctx)
			continue
		case err := <-r.Failed():
			log.Error("router cannot go on; exiting so a fresh start rejoins", "err", err)
			r.Close()
			return err
		case <-ctx.Done():
		}
		break
	}
	log.Info("shutting down")
	r.Close()
	return nil
}

// Failed delivers an error when the router cannot go on (it lost the
// notifier lease); Run then exits non-zero for the supervisor to restart it.
func (r *Router) Failed() <-chan error { return r.failed }

func (r *Router) fail(err error) {
	select {
	case r.failed <- err:
	default:
	}
}

// Start validates opts, connects, provisions, loads rules and starts
// consuming. Close stops it.
func Start(ctx context.Context, opts Options, log *slog.Logger) (*Router, error) {
	opts.Defaults()
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("invalid options: %w", err)
	}
	r := &Router{opts: opts, log: log, failed: make(chan error, 1)}
	clock := newStartClock()
	snap, err := r.loadSnapshot()
	if err != nil {
		return nil, err
	}
	r.snap.Store(snap)
	r.ops = opshttp.New(log)
	r.m = newMetrics(r.ops.Registry, func() float64 {
		var n int64
		for _, le := range r.engines() {
			n += le.e.EvalErrors()
		}
		return float64(n)
	})
	r.m.rulesLoaded.Set(float64(len(snap.set.Rules)))
	r.ops.Registry.MustRegister(engineCollector{r.engines})
	log.Info("rules loaded", "dir", opts.RulesDir, "rules", len(snap.set.Rules), "version", snap.set.Version)
	clock.lap("rules")

	if err := r.connect(ctx); err != nil {
		r.Close()
		return nil, err
	}
	clock.lap("connect")
	if opts.Partitions > 0 {
		if r.part, err = r.newPartitioner(ctx); err != nil {
			r.Close()
			return nil, err
		}
	}

	r.ops.AddReadiness("nats", func(context.Context) error {
		if !r.conn.NC.IsConnected() {
			return errors.New("not connected")
		}
		return nil
	})
	r.ops.AddReadiness("consumers", func(context.Context) error {
		if !r.ready.Load() {
			return errors.New("not consuming yet")
		}
		return nil
	})
	if opts.Ingest {
		if err := r.mountIngest(ctx); err != nil {
			r.Close()
			return nil, err
		}
	}
	if err := r.mountWeb(ctx); err != nil {
		r.Close()
		return nil, err
	}
	clock.lap("web")
	r.mountPprof()
	if err := r.ops.Start(opts.HTTPAddr); err != nil {
		r.Close()
		return nil, err
	}
	r.stops = append(r.stops, func() {
		ctx, cancel := context.WithTimeout(context.Background(), opts.Timeouts.Shutdown)
		defer cancel()
		_ = r.ops.Shutdown(ctx)
	})

	if err := r.startNotifier(ctx); err != nil {
		r.Close()
		return nil, err
	}
	clock.lap("notifier")
	if err := r.startOutbox(); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.startRuntime(); err != nil {
		r.Close()
		return nil, err
	}
	if err := r.startRuleEvaluation(ctx); err != nil {
		r.Close()
		return nil, err
	}
	clock.lap("evaluation")
	r.ready.Store(true)
	clock.report(log, r.ops.Registry)
	return r, nil
}

// connect starts the embedded server when no URL is given, connects and
// provisions the streams and buckets.
func (r *Router) connect(ctx context.Context) error {
	opts := &r.opts
	if opts.NATS.URL == "" {
		s, err := embedded.Start(opts.NATS.Embedded, r.log)
		if err != nil {
			return err
		}
		// Stops run in reverse: the server goes after the connection.
		r.stops = append(r.stops, func() { s.Shutdown(); s.WaitForShutdown() })
		opts.NATS.URL = s.ClientURL()
		r.log.Info("embedded nats-server started", "url", opts.NATS.URL, "store", s.StoreDir())
	}
	var err error
	if r.conn, err = bus.Connect(ctx, opts.NATS, r.log); err != nil {
		return err
	}
	r.stops = append(r.stops, r.conn.Close)
	topo := opts.Topology
	topo.Replicas = opts.Replicas
	if opts.Replicas == 0 {
		topo.Replicas = bus.AutoReplicas(r.conn.NC)
	}
	topo.Partitions, topo.MemberTTL = opts.Partitions, opts.MemberTTL
	prov, err := bus.Provision(ctx, r.conn.JS, topo)
	if err != nil {
		return err
	}
	r.log.Info("jetstream provisioned", "result", fmt.Sprint(prov), "replicas", topo.Replicas)
	return nil
}

// startOutbox starts the outbox alerts and dead letters are stored
// through. Its stop runs after the lanes' (stops run in reverse): what
// their last events sent is stored, within Timeouts.Shutdown, then the
// retries end, so a shutdown never waits long on a NATS that is away.
func (r *Router) startOutbox() error {
	out, err := outbox.New(outbox.Options{
		NC: r.conn.NC, DeadLetters: dispatch.SubjectDLQAlerts, Log: r.log.With("component", "outbox"),
		Retry:   outbox.Retry{Timeout: r.opts.Timeouts.Publish},
		OnRetry: func(error) { r.m.events.WithLabelValues("retry").Inc() },
		OnDeadLetter: func(outbox.Item, error) {
			r.m.events.WithLabelValues("dead_letter").Inc()
		},
	})
	if err != nil {
		return err
	}
	r.out = out
	r.alerts = &lane.Alerts{Out: out, Published: r.m.alerts, Log: r.log}
	r.stops = append(r.stops, func() {
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.Timeouts.Shutdown)
		defer cancel()
		out.Close(ctx)
	})
	return nil
}

// startRuleEvaluation rebuilds the windows and consumes events: through
// the one durable consumer all routers share, or, partitioned, through the
// lanes this router is given.
func (r *Router) startRuleEvaluation(ctx context.Context) error {
	obs, err := r.conn.JS.ObjectStore(ctx, bus.BucketWindows)
	if err != nil {
		return fmt.Errorf("object store %s: %w", bus.BucketWindows, err)
	}
	r.windows = obs
	if r.part != nil {
		return r.part.run(ctx)
	}
	r.single = lane.New(r.laneConfig("", r.opts.Consumer, lane.Events(), false, func() *rule.Set { return r.snap.Load().set }))
	if err := r.single.Acquire(ctx, nil); err != nil {
		return err
	}
	r.stops = append(r.stops, r.single.Release)
	return nil
}

// laneConfig is the configuration every lane shares.
func (r *Router) laneConfig(name, durable string, src lane.Source, pinned bool, rules func() *rule.Set) lane.Config {
	o := r.opts
	cfg := lane.Config{
		Name: name, Durable: durable, Source: src, Pinned: pinned,
		AckWait: o.AckWait, PinnedTTL: o.MemberTTL, LatestHorizon: o.Topology.EventsMaxAge,
		Timeouts: lane.Timeouts{ReadWait: o.Timeouts.RebuildRead, StartWait: o.Timeouts.PartitionStart, Unpin: o.Timeouts.NATSCall},
		JS:       r.conn.JS, Alerts: r.alerts, Rules: rules, Log: r.log,
		Snapshots: r.windows, SnapshotEvery: o.Timeouts.Snapshot,
		Metrics: lane.Metrics{
			Events: r.m.events, RebuildEvents: r.m.rebuildEvents, RebuildSeconds: r.m.rebuildSeconds, Eval: r.m.evalSeconds,
			Snapshots: r.m.snapshots, SnapshotBytes: r.m.snapshotBytes.WithLabelValues(name),
		},
	}
	if r.part != nil {
		cfg.Metrics.Rebuilds = r.part.rebuilds
		cfg.Metrics.Lane = r.part.events.WithLabelValues(name)
	}
	if pinned {
		// By router id too: routers that share a state directory must not
		// take each other's pins for a predecessor's.
		cfg.PinFile = filepath.Join(o.StateDir, "pins", o.RouterID, durable)
	}
	return cfg
}

// laneEngine is a rule engine and the lane it evaluates ("" for the
// router's single consumer).
type laneEngine struct {
	lane string
	e    *correlate.Engine
}

// lanes are this router's lanes, owned or not.
func (r *Router) lanes() []*lane.Lane {
	if r.part != nil {
		return r.part.lanes
	}
	if r.single != nil {
		return []*lane.Lane{r.single}
	}
	return nil
}

// engines are the rule engines holding state; none of them waits.
func (r *Router) engines() []laneEngine {
	var out []laneEngine
	for _, l := range r.lanes() {
		if e := l.Engine(); e != nil {
			out = append(out, laneEngine{l.Name(), e})
		}
	}
	return out
}

// mountIngest serves HTTP ingest, storing events through a connection of
// its own when it has credentials of its own (the ingest role).
func (r *Router) mountIngest(ctx context.Context) error {
	io := r.opts.IngestOptions
	io.JS, io.Registry, io.Log = r.conn.JS, r.ops.Registry, r.log.With("component", "ingest")
	if r.opts.IngestNKey != "" || r.opts.IngestCreds != "" {
		no := r.opts.NATS
		no.NKey, no.Creds = r.opts.IngestNKey, r.opts.IngestCreds
		no.Name += "-ingest"
		no.InboxPrefix = bus.IngestInbox
		c, err := bus.Connect(ctx, no, io.Log)
		if err != nil {
			return fmt.Errorf("ingest: %w", err)
		}
		r.stops = append(r.stops, c.Close)
		io.JS = c.JS
	}
	h, err := ingest.New(io)
	if err != nil {
		return err
	}
	h.Mount(r.ops.Mux)
	return nil
}

// HTTPAddr is the bound ops address.
func (r *Router) HTTPAddr() string { return r.ops.Addr() }

// Conn exposes the NATS connection (tests, embedded URL).
func (r *Router) Conn() *bus.Conn { return r.conn }

// Close stops consuming (draining in-flight messages), then closes NATS.
func (r *Router) Close() {
	r.ready.Store(false)
	for i := len(r.stops) - 1; i >= 0; i-- {
		r.stops[i]()
	}
	r.stops = nil
}

// drainer returns a stop function that drains cc, bounded by AckWait.
func (r *Router) drainer(cc jetstream.ConsumeContext, name string) func() {
	return func() {
		cc.Drain()
		select {
		case <-cc.Closed():
		case <-time.After(r.opts.AckWait):
			r.log.Warn("consumer did not drain in time", "consumer", name)
		}
	}
}

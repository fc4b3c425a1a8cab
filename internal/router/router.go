package router

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/embedded"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/ingest"
	"github.com/aftershock/aftershock/internal/opshttp"
)

// Router is a running router. Start it with Start; Run wraps the lifecycle.
type Router struct {
	opts   Options
	log    *slog.Logger
	conn   *bus.Conn
	ops    *opshttp.Server
	engine *correlate.Engine
	m      *metrics
	ready  atomic.Bool
	stops  []func()
	// part runs the partitioned mode (Options.Partitions); nil otherwise.
	part *partitioner
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
	set, err := LoadRules(opts.RulesDir, opts.Receivers)
	if err != nil {
		return nil, err
	}
	r.engine = correlate.New(set, log.With("component", "engine"), correlate.Options{})
	r.ops = opshttp.New(log)
	r.m = newMetrics(r.ops.Registry, func() float64 {
		var n int64
		for _, le := range r.engines() {
			n += le.e.EvalErrors()
		}
		return float64(n)
	})
	r.m.rulesLoaded.Set(float64(len(set.Rules)))
	r.ops.Registry.MustRegister(engineCollector{r.engines})
	log.Info("rules loaded", "dir", opts.RulesDir, "rules", len(set.Rules), "version", set.Version)

	if opts.NATS.URL == "" {
		s, err := embedded.Start(opts.NATS.Embedded, log)
		if err != nil {
			return nil, err
		}
		// Stops run in reverse: the server goes after the connection.
		r.stops = append(r.stops, func() { s.Shutdown(); s.WaitForShutdown() })
		opts.NATS.URL = s.ClientURL()
		r.opts.NATS.URL = opts.NATS.URL
		log.Info("embedded nats-server started", "url", opts.NATS.URL, "store", s.StoreDir())
	}
	if r.conn, err = bus.Connect(ctx, opts.NATS, log); err != nil {
		r.Close()
		return nil, err
	}
	r.stops = append(r.stops, r.conn.Close)
	opts.Topology.Replicas = opts.Replicas
	if opts.Replicas == 0 {
		opts.Topology.Replicas = bus.AutoReplicas(r.conn.NC)
	}
	opts.Topology.Partitions, opts.Topology.MemberTTL = opts.Partitions, opts.MemberTTL
	prov, err := bus.Provision(ctx, r.conn.JS, opts.Topology)
	if err != nil {
		r.Close()
		return nil, err
	}
	log.Info("jetstream provisioned", "result", fmt.Sprint(prov), "replicas", opts.Topology.Replicas)
	if opts.Partitions > 0 {
		if r.part, err = r.newPartitioner(ctx, set); err != nil {
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
	if err := r.ops.Start(opts.HTTPAddr); err != nil {
		r.Close()
		return nil, err
	}
	r.stops = append(r.stops, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = r.ops.Shutdown(ctx)
	})

	if err := r.startNotifier(ctx); err != nil {
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
	// Stops run in reverse: a shutdown first ends publish retries, so
	// draining the consumer does not wait on a NATS that is away.
	r.stops = append(r.stops, r.runCancel)
	r.ready.Store(true)
	return r, nil
}

// startRuleEvaluation rebuilds the windows and consumes events: through
// the one durable consumer all routers share, or, partitioned, through the
// lanes this router is given.
func (r *Router) startRuleEvaluation(ctx context.Context) error {
	if r.part != nil {
		r.part.run()
		return nil
	}
	if err := r.rebuild(ctx); err != nil {
		return err
	}
	return r.startEvents(ctx)
}

// laneEngine is a rule engine and the lane it evaluates ("" for the
// router's single consumer).
type laneEngine struct {
	lane string
	e    *correlate.Engine
}

// engines are the rule engines holding state: the router's own, or the
// owned lanes' when partitioned.
func (r *Router) engines() []laneEngine {
	if r.part == nil {
		return []laneEngine{{e: r.engine}}
	}
	var out []laneEngine
	for _, l := range r.part.lanes {
		if e := l.currentEngine(); e != nil {
			out = append(out, laneEngine{l.name, e})
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

// consume starts a durable consumer and registers its drain on Close.
func (r *Router) consume(ctx context.Context, stream string, cfg jetstream.ConsumerConfig, h jetstream.MessageHandler) error {
	cons, err := r.conn.JS.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", cfg.Durable, stream, err)
	}
	cc, err := cons.Consume(h, jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
		r.log.Debug("consume", "consumer", cfg.Durable, "err", err)
	}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", cfg.Durable, err)
	}
	r.stops = append(r.stops, r.drainer(cc, cfg.Durable))
	return nil
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

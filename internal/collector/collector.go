package collector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/opshttp"
	"github.com/aftershock/aftershock/internal/posture"
	"github.com/aftershock/aftershock/internal/reboot"
	"github.com/aftershock/aftershock/internal/spool"
)

// Collector is a running node agent.
type Collector struct {
	opts      Options
	pub       Publisher
	sources   []Source
	log       *slog.Logger
	conn      *bus.Conn
	queue     *publishQueue
	ops       *opshttp.Server
	host      posture.Host
	source    string
	published *prometheus.CounterVec
	now       func() time.Time
	reboots   *reboot.Tracker
	// prevKernel is the previous boot's kernel when this boot runs
	// another; the first posture says it, so rules see the upgrade.
	prevKernel string
}

// Run starts the collector and blocks until ctx ends.
func Run(ctx context.Context, opts Options, log *slog.Logger) error {
	opts.Defaults()
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("invalid options: %w", err)
	}
	c := &Collector{
		opts:   opts,
		log:    log.With("node", opts.Node, "cluster", opts.Cluster),
		host:   posture.Host{Root: opts.HostRoot, KdumpMinFreeMB: opts.KdumpMinFreeMB},
		source: "aftershock/collector/" + opts.Node,
		now:    time.Now,
	}
	c.ops = opshttp.New(log)
	c.ops.Limits = nodeLimits() // it may serve ingest to the node's pods (ingest.go)
	c.published = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aftershock_collector_events_total",
		Help: "Events by type and outcome (published, or spooled to publish later; failed).",
	}, []string{"type", "outcome"})
	c.ops.Registry.MustRegister(c.published)
	// Sources are built before connecting so a bad configuration fails at once.
	builtin, err := c.builtinSources()
	if err != nil {
		return err
	}
	c.sources = append(builtin, opts.Sources...)
	nopts := opts.NATS
	nopts.Background = true
	if nopts.InboxPrefix == "" {
		// Its NATS user may receive replies on this prefix only.
		nopts.InboxPrefix = bus.CollectorInbox(opts.Cluster, opts.Node)
	}
	if c.conn, err = bus.Connect(ctx, nopts, c.log); err != nil {
		return err
	}
	defer c.conn.Close()
	c.ops.AddReadiness("nats", func(context.Context) error {
		if !c.conn.NC.IsConnected() {
			return errors.New("not connected (events are kept until it is)")
		}
		return nil
	})
	if opts.IngestEnabled {
		stop, err := c.startIngest()
		if err != nil {
			return err
		}
		defer stop()
	}
	if err := c.ops.Start(opts.HTTPAddr); err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), opts.ShutdownTimeout)
		defer cancel()
		_ = c.ops.Shutdown(sctx)
	}()
	sp, err := spool.Open(spool.Options{
		Dir:       filepath.Join(opts.StateDir, "spool"),
		MaxBytes:  opts.SpoolMaxBytes,
		Target:    &jsPublisher{js: c.conn.JS, timeout: opts.PublishTimeout},
		Connected: c.conn.NC.IsConnected,
		NewEvent:  c.newEvent,
		Log:       c.log,
	})
	if err != nil {
		return err
	}
	defer sp.Close()
	if err := sp.Register(c.ops.Registry); err != nil {
		return err
	}
	var spoolDone sync.WaitGroup
	spoolDone.Go(func() { sp.Run(ctx) })
	defer spoolDone.Wait()
	q := newPublishQueue(sp, 1024, c.reportPublish)
	c.pub, c.queue = q, q
	var queueDone sync.WaitGroup
	queueDone.Go(func() { q.run(ctx) })
	c.log.Info("collector started", "nats", bus.Redact(opts.NATS.URL), "heartbeat", opts.Heartbeat.String())
	var wg sync.WaitGroup
	for _, s := range c.sources {
		wg.Go(func() { c.runSource(ctx, s) })
	}
	c.reboots = c.checkReboot(ctx)
	c.loop(ctx)
	wg.Wait()
	q.close()
	queueDone.Wait() // what is queued is published or spooled before the spool closes
	c.recordStop(c.reboots)
	return nil
}

// runSource keeps a source running: a failing source is restarted after a
// pause so one broken watcher never stops the others.
func (c *Collector) runSource(ctx context.Context, s Source) {
	log := c.log.With("source", s.Name())
	for ctx.Err() == nil {
		err := s.Run(ctx, c)
		if ctx.Err() != nil {
			return
		}
		log.Error("source stopped; restarting", "in", c.opts.SourceRestart.String(), "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(c.opts.SourceRestart):
		}
	}
}

// Emit implements Emitter for sources: the event is queued for the spool
// (publishQueue), so a source never waits for NATS.
func (c *Collector) Emit(ctx context.Context, typ string, t time.Time, data any) error {
	ev, err := event.NewEncoded(typ, c.source, c.opts.Cluster, c.opts.Node, t, data)
	if err != nil {
		return err
	}
	return c.pub.Publish(ctx, ev)
}

// reportPublish counts the spool's outcome of each queued event.
func (c *Collector) reportPublish(ev event.Encoded, err error) {
	if err != nil {
		c.published.WithLabelValues(ev.Type, "failed").Inc()
		c.log.Warn("publish failed", "type", ev.Type, "id", ev.ID, "err", err)
		return
	}
	c.published.WithLabelValues(ev.Type, "published").Inc()
}

// newEvent fills the envelope of one of this node's events.
func (c *Collector) newEvent(typ string, t time.Time, data any) (*event.Event, error) {
	return event.New(typ, c.source, c.opts.Cluster, c.opts.Node, t, data)
}

// loop publishes posture at start and on change, and heartbeats.
func (c *Collector) loop(ctx context.Context) {
	hb := time.NewTicker(c.opts.Heartbeat)
	defer hb.Stop()
	pt := time.NewTicker(c.opts.PostureEvery)
	defer pt.Stop()
	var last string
	c.postureIfChanged(ctx, &last)
	c.heartbeat(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hb.C:
			c.heartbeat(ctx)
		case <-pt.C:
			c.postureIfChanged(ctx, &last)
		}
	}
}

func (c *Collector) heartbeat(ctx context.Context) {
	d := event.Heartbeat{IntervalSecs: c.opts.Heartbeat.Seconds(), Version: c.opts.Version}
	d.BootID, _ = c.host.BootID()
	if up, err := c.host.Uptime(); err == nil {
		d.UptimeSeconds = up.Seconds()
	}
	if mi, err := c.host.Meminfo(); err == nil {
		d.Meminfo = mi
	}
	now := c.now()
	if c.emitAt(ctx, event.TypeHeartbeat, now, d) && c.reboots != nil {
		if err := c.reboots.Heartbeat(now, d.Meminfo); err != nil {
			c.log.Warn("record heartbeat", "err", err)
		}
	}
}

func (c *Collector) postureIfChanged(ctx context.Context, last *string) {
	p := c.host.Read()
	if c.prevKernel != p.KernelRelease {
		p.PreviousKernel = c.prevKernel
	}
	key := posture.ChangeKey(p)
	if key == *last {
		return
	}
	if c.emit(ctx, event.TypePosture, p) {
		*last = key
		c.prevKernel = ""
		if err := posture.SavePods(c.opts.StateDir, p.BootID, p.Pods); err != nil {
			c.log.Warn("the next reboot will not know these pods", "err", err)
		}
	}
}

// emit publishes one of the collector's own events; it reports whether it
// was stored.
func (c *Collector) emit(ctx context.Context, typ string, data any) bool {
	return c.emitAt(ctx, typ, c.now(), data)
}

func (c *Collector) emitAt(ctx context.Context, typ string, t time.Time, data any) bool {
	if err := c.Emit(ctx, typ, t, data); err != nil {
		c.log.Warn("publish failed", "type", typ, "err", err)
		return false
	}
	return true
}

// jsPublisher stores events in JetStream with the event id as Nats-Msg-Id,
// so a retried publish is stored once.
type jsPublisher struct {
	js      jetstream.JetStream
	timeout time.Duration
}

func (p *jsPublisher) Publish(ctx context.Context, ev event.Encoded) error {
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	_, err := p.js.PublishMsg(ctx, &nats.Msg{Subject: ev.NATSSubject(false), Data: ev.JSON}, jetstream.WithMsgID(ev.ID))
	if err != nil {
		return fmt.Errorf("publish %s %s: %w", ev.Type, ev.ID, err)
	}
	return nil
}

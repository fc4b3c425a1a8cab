package kernel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kmsg"
	"github.com/aftershock/aftershock/internal/posture"
)

// Emitter publishes an event; the collector implements it.
type Emitter interface {
	Emit(ctx context.Context, typ string, t time.Time, data any) error
}

// WatcherOptions configure a Watcher.
type WatcherOptions struct {
	// Device is the kmsg device, resolved under Host.Root (default /dev/kmsg).
	Device string
	// Host reads the boot id, uptime and /proc/meminfo.
	Host posture.Host
	// StateDir keeps the ring buffer position per boot.
	StateDir string
	Pack     *Pack
	Matcher  Options
	Log      *slog.Logger
	// Registerer gets the watcher's metrics; nil keeps them private.
	Registerer prometheus.Registerer
	// TickEvery is how often idle reports and rollups are checked and the
	// position saved (default 1s).
	TickEvery time.Duration
}

// Watcher reads /dev/kmsg and emits kernel.* events. It is a collector
// source named "kernel".
type Watcher struct {
	opts    WatcherOptions
	matcher *Matcher
	log     *slog.Logger
	m       watcherMetrics
}

type watcherMetrics struct {
	records, lost, overruns, malformed, rolled prometheus.Counter
	findings                                   *prometheus.CounterVec
}

// NewWatcher checks the options and registers the metrics.
func NewWatcher(o WatcherOptions) (*Watcher, error) {
	if o.Device == "" {
		o.Device = "/dev/kmsg"
	}
	if o.Pack == nil {
		o.Pack = DefaultPack()
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.TickEvery <= 0 {
		o.TickEvery = time.Second
	}
	if o.StateDir == "" {
		return nil, errors.New("kernel watcher: state dir: required")
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
	}
	w := &Watcher{opts: o, matcher: NewMatcher(o.Pack, o.Matcher), log: o.Log.With("source", "kernel")}
	w.m = watcherMetrics{
		records:   counter("aftershock_kmsg_records_total", "Kernel log records read from the kmsg device."),
		lost:      counter("aftershock_kmsg_lost_records_total", "Kernel log records overwritten in the ring buffer before they were read."),
		overruns:  counter("aftershock_kmsg_overruns_total", "EPIPE (ring buffer overrun) errors from the kmsg device."),
		malformed: counter("aftershock_kmsg_malformed_records_total", "kmsg records that did not parse."),
		rolled:    counter("aftershock_kernel_rolled_lines_total", "Kernel lines counted into a rollup instead of an event of their own."),
		findings: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_kernel_findings_total", Help: "Kernel events found, by type.",
		}, []string{"type"}),
	}
	for _, c := range []prometheus.Collector{w.m.records, w.m.lost, w.m.overruns, w.m.malformed, w.m.rolled, w.m.findings} {
		if err := o.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("kernel watcher metrics: %w", err)
		}
	}
	return w, nil
}

// Name implements the collector's Source.
func (w *Watcher) Name() string { return "kernel" }

type record struct {
	line kmsg.Line
	err  error
}

// Run reads the device until ctx ends or the device fails. At start it
// reads the ring buffer from its beginning, skipping what it handled
// earlier in this boot; at the end it emits what it holds (an unfinished
// report, rollups) and saves its position.
func (w *Watcher) Run(ctx context.Context, emit Emitter) error {
	host := w.opts.Host
	bootID, err := host.BootID()
	if err != nil {
		return fmt.Errorf("kernel watcher: %w", err)
	}
	uptime, err := host.Uptime()
	if err != nil {
		return fmt.Errorf("kernel watcher: %w", err)
	}
	bootTime := time.Now().Add(-uptime)
	pos, err := loadPosition(w.opts.StateDir)
	if err != nil {
		w.log.Warn("starting from the beginning of the ring buffer", "err", err)
	}
	dev, path, err := w.openDevice()
	if err != nil {
		return err
	}
	defer dev.Close()
	r := kmsg.NewReader(dev, bootTime)
	if pos.BootID == bootID {
		r.SkipThrough(pos.Seq)
		w.log.Info("resuming kernel log", "device", path, "after_seq", pos.Seq)
	} else {
		pos = position{BootID: bootID}
		w.log.Info("reading kernel log from the start of the ring buffer", "device", path, "boot_id", bootID)
	}

	records := make(chan record, 1024)
	done := make(chan struct{})
	defer close(done)
	go w.read(r, records, done)

	// The ring buffer is this boot's, logged by the running kernel: its
	// release stands in for reports that do not print one (most lines
	// before "CPU: … Not tainted 4.4.0-…"), so known bugs tied to a
	// kernel can be told.
	release, _ := host.KernelRelease()
	run := &watchRun{w: w, emit: emit, ctx: ctx, bootID: bootID, release: release, pos: pos, saved: pos}
	run.stream = w.matcher.NewStream(run.found)
	tick := time.NewTicker(w.opts.TickEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			dev.Close() // unblocks the reader
			run.finish()
			return nil
		case now := <-tick.C:
			run.tick(now)
		case rec := <-records:
			if rec.err != nil {
				run.finish()
				return fmt.Errorf("kernel watcher: %w", rec.err)
			}
			run.feed(rec.line)
		}
	}
}

// openDevice opens the device under the host root or, when it is not
// there, at its own path: a container is often given the host's /dev/kmsg
// as /dev/kmsg (a hostPath device) rather than under the host root.
func (w *Watcher) openDevice() (*os.File, string, error) {
	path := w.opts.Host.Path(w.opts.Device)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) && path != w.opts.Device {
		var err2 error
		if f, err2 = os.Open(w.opts.Device); err2 == nil {
			return f, w.opts.Device, nil
		}
		if !errors.Is(err2, fs.ErrNotExist) {
			err = err2
		}
	}
	if err != nil {
		return nil, "", fmt.Errorf("open kmsg device: %w", err)
	}
	return f, path, nil
}

// read runs the blocking device reads.
func (w *Watcher) read(r *kmsg.Reader, out chan<- record, done <-chan struct{}) {
	var lost, overruns, bad uint64
	for {
		l, err := r.Next()
		w.m.lost.Add(float64(r.Lost() - lost))
		w.m.overruns.Add(float64(r.Overruns() - overruns))
		w.m.malformed.Add(float64(r.Malformed() - bad))
		lost, overruns, bad = r.Lost(), r.Overruns(), r.Malformed()
		rec := record{line: l, err: err}
		if err == nil {
			w.m.records.Inc()
		}
		select {
		case out <- rec:
		case <-done:
			return
		}
		if err != nil {
			return
		}
	}
}

// watchRun is the state of one Run.
type watchRun struct {
	w       *Watcher
	emit    Emitter
	ctx     context.Context
	stream  *Stream
	bootID  string
	release string   // the running kernel's release ("" if unknown)
	pos     position // handled through pos.Seq
	saved   position
	// The log time of the last line and when it arrived: reports and
	// rollups age by log time plus the wall time since, so replaying an
	// old ring buffer at start ends nothing early.
	lastLine time.Time
	lastRecv time.Time
}

func (r *watchRun) tick(now time.Time) {
	if !r.lastLine.IsZero() {
		r.stream.Tick(r.lastLine.Add(now.Sub(r.lastRecv)))
	}
	r.save()
}

func (r *watchRun) feed(l kmsg.Line) {
	before := r.stream.Stats()
	r.stream.Feed(l)
	r.pos.Seq = l.Seq
	if t := lineClock(&l); !t.IsZero() {
		r.lastLine, r.lastRecv = t, time.Now()
	}
	after := r.stream.Stats()
	r.w.m.rolled.Add(float64(after.Rolled - before.Rolled))
	if after.Findings > before.Findings {
		r.save() // a restart must not publish it again
	}
}

// found publishes a finding with the node's memory and boot at the time
// the collector saw it.
func (r *watchRun) found(f Finding) {
	mem, err := r.w.opts.Host.Meminfo()
	if err != nil {
		r.w.log.Debug("no meminfo snapshot", "err", err)
	}
	switch d := f.Data.(type) {
	case *event.KernelReport:
		d.BootID, d.Meminfo = r.bootID, mem
		d.KernelRelease = cmp.Or(d.KernelRelease, r.release)
	case *event.OOM:
		d.BootID, d.Meminfo = r.bootID, mem
		d.KernelRelease = cmp.Or(d.KernelRelease, r.release)
		// Name the pod while it is still there: "200 OOM kills in
		// namespace shop" needs names, not UIDs.
		if pod, ctr, ok := r.w.opts.Host.Pod(d.PodUID, d.ContainerID); ok {
			d.Namespace, d.Pod, d.Container = pod.Namespace, pod.Name, ctr
		}
	}
	r.w.m.findings.WithLabelValues(f.Type).Inc()
	ctx := r.ctx
	if ctx.Err() != nil { // flushing at shutdown
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	if err := r.emit.Emit(ctx, f.Type, f.Time, f.Data); err != nil {
		r.w.log.Warn("publish kernel event failed", "type", f.Type, "err", err)
	}
}

// save stores the position, held back to just before a report still being
// assembled so a restart re-reads it whole.
func (r *watchRun) save() {
	p := r.pos
	if seq, ok := r.stream.Pending(); ok && seq > 0 {
		p.Seq = min(p.Seq, seq-1)
	}
	if p == r.saved {
		return
	}
	if err := p.save(r.w.opts.StateDir); err != nil {
		r.w.log.Warn("cannot save kernel log position", "err", err)
		return
	}
	r.saved = p
}

func (r *watchRun) finish() {
	r.stream.Flush()
	r.save()
}

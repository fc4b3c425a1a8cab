package chaos

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/childproc"
)

// Options configure a run.
type Options struct {
	// Bin holds the router, collector and nats-server binaries.
	Bin string
	// Crashes is how many times the router is killed (SIGKILL) and
	// started again; a crash comes every CrashMin to CrashMax.
	Crashes            int
	CrashMin, CrashMax time.Duration
	// Graceful stops the router with SIGTERM instead (a rolling update):
	// nothing may be lost or paged twice.
	Graceful bool
	// Rate is page events per second, Background routine events per
	// second (heartbeats of 500 nodes).
	Rate, Background int
	// Outage is how long NATS is away while a collector runs (0: no
	// outage phase).
	Outage time.Duration
	// OutageKill begins the outage with SIGKILL instead of a stop: what
	// the server had not written out is its to lose, and what it acked
	// must still be paged.
	OutageKill bool
	// Partitions, when set, runs the router with --partitions: its lanes
	// are pinned consumers, rebuilt at each start from snapshots and the
	// stream. Routers (with Partitions) runs that many routers, as the
	// Kubernetes base does (2), and each crash kills one of them.
	Partitions, Routers int
	// Dir keeps the processes' stores and logs (default: a temp dir,
	// removed unless Keep).
	Dir  string
	Keep bool
	Out  io.Writer
	Log  *slog.Logger
}

func (o *Options) defaults() {
	if o.Crashes == 0 {
		o.Crashes = 20
	}
	if o.CrashMin == 0 {
		o.CrashMin, o.CrashMax = 2*time.Second, 4*time.Second
	}
	o.CrashMax = max(o.CrashMax, o.CrashMin)
	o.Routers = max(o.Routers, 1)
	if o.Rate == 0 {
		o.Rate = 50
	}
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// run is one chaos run's processes and load.
type run struct {
	o        Options
	dir      string
	natsPort int
	natsURL  string
	nats     *childproc.Proc
	routers  []*childproc.Proc
	ports    []int // the routers' HTTP ports
	rules    string
	pages    *pages
}

// Run runs the crash loop and the outage and reports.
func Run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if o.Routers > 1 && o.Partitions == 0 {
		return nil, fmt.Errorf("%d routers need partitions: without them routers share one consumer and split each group's events", o.Routers)
	}
	r := &run{o: o, dir: o.Dir}
	if r.dir == "" {
		d, err := os.MkdirTemp("", "aftershock-chaos-")
		if err != nil {
			return nil, err
		}
		r.dir = d
		if !o.Keep {
			defer os.RemoveAll(d)
		}
	}
	if err := os.MkdirAll(r.dir, 0o755); err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "chaos: processes' stores and logs in %s\n", r.dir)
	defer r.stopAll()
	if err := r.setUp(ctx); err != nil {
		return nil, err
	}
	rep := &Report{}
	ld := &load{published: map[int]time.Time{}}
	lctx, stopLoad := context.WithCancel(ctx)
	loadDone := make(chan error, 1)
	go func() { loadDone <- ld.run(lctx, r.natsURL, o.Rate, o.Background) }()

	for i := range o.Crashes {
		wait := o.CrashMin + time.Duration(rand.Int64N(int64(o.CrashMax-o.CrashMin)+1))
		select {
		case <-ctx.Done():
			stopLoad()
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		k := rand.IntN(len(r.routers))
		if o.Graceful {
			began := time.Now()
			r.routers[k].Stop(time.Minute)
			rep.Stopped = append(rep.Stopped, time.Since(began))
		} else {
			r.routers[k].Kill()
		}
		took, err := r.startRouter(ctx, k)
		if err != nil {
			stopLoad()
			return nil, fmt.Errorf("crash %d: %w", i+1, err)
		}
		rep.Crashes++
		rep.Ready = append(rep.Ready, took)
		what := "crash"
		if o.Graceful {
			what = "stop"
		}
		fmt.Fprintf(o.Out, "%s %d/%d: %s ready %s after start\n", what, i+1, o.Crashes, routerName(k), round(took))
	}
	if o.Outage > 0 {
		if err := r.collectorOutage(ctx, rep); err != nil {
			stopLoad()
			return nil, fmt.Errorf("collector outage: %w", err)
		}
	}
	time.Sleep(2 * time.Second) // the last pages in flight
	stopLoad()
	if err := <-loadDone; err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	published := ld.snapshot()
	r.awaitPages(ctx, published)
	rep.Count(Tally{Published: published, Pages: r.pages.snapshot()})
	return rep, nil
}

// setUp starts nats-server, the page receiver and the router.
func (r *run) setUp(ctx context.Context) error {
	var err error
	if r.natsPort, err = childproc.FreePort(); err != nil {
		return err
	}
	r.natsURL = "nats://127.0.0.1:" + strconv.Itoa(r.natsPort)
	if err := r.startNATS(ctx); err != nil {
		return err
	}
	if r.pages, err = listenPages(); err != nil {
		return err
	}
	r.rules = filepath.Join(r.dir, "rules")
	if err := os.MkdirAll(r.rules, 0o755); err != nil {
		return err
	}
	for name, body := range map[string]string{"chaos.yaml": rules, "routing.yaml": routing} {
		if err := os.WriteFile(filepath.Join(r.rules, name), []byte(body), 0o644); err != nil {
			return err
		}
	}
	r.routers, r.ports = make([]*childproc.Proc, r.o.Routers), make([]int, r.o.Routers)
	for k := range r.routers {
		if r.ports[k], err = childproc.FreePort(); err != nil {
			return err
		}
		took, err := r.startRouter(ctx, k)
		if err != nil {
			return err
		}
		fmt.Fprintf(r.o.Out, "%s ready %s after its first start\n", routerName(k), round(took))
	}
	return nil
}

// routerName is router k's name: its id, log and state directory.
func routerName(k int) string {
	if k == 0 {
		return "router" // as before there could be several
	}
	return "router-" + strconv.Itoa(k)
}

func (r *run) startNATS(ctx context.Context) error {
	p, err := childproc.NATSServer(ctx, r.dir, filepath.Join(r.o.Bin, "nats-server"), filepath.Join(r.dir, "nats"), r.natsPort)
	if err != nil {
		return err
	}
	r.nats = p
	return nil
}

// startRouter starts router k's binary and returns how long it took to
// answer /readyz with 200.
func (r *run) startRouter(ctx context.Context, k int) (time.Duration, error) {
	begin := time.Now()
	name := routerName(k)
	args := []string{"--nats", r.natsURL, "--rules", r.rules, "--http", "127.0.0.1:" + strconv.Itoa(r.ports[k]),
		"--state-dir", filepath.Join(r.dir, name), "--router-id", "chaos-" + strconv.Itoa(k), "--no-rules-watch"}
	if r.o.Partitions > 0 {
		args = append(args, "--partitions", strconv.Itoa(r.o.Partitions))
	}
	p, err := childproc.Start(r.dir, name, filepath.Join(r.o.Bin, "router"), []string{"CHAOS_WEBHOOK_URL=" + r.pages.url}, args...)
	if err != nil {
		return 0, err
	}
	r.routers[k] = p
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := childproc.WaitReady(wctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", r.ports[k]), p); err != nil {
		return 0, err
	}
	return time.Since(begin), nil
}

// collectorOutage runs a collector (heartbeats every 100 ms), takes NATS
// away for the outage, brings it back, and counts what the collector
// accepted against what EVENTS holds of it once its spool is empty.
func (r *run) collectorOutage(ctx context.Context, rep *Report) error {
	port, err := childproc.FreePort()
	if err != nil {
		return err
	}
	c, err := childproc.Start(r.dir, "collector", filepath.Join(r.o.Bin, "collector"), nil,
		"--nats", r.natsURL, "--cluster", "chaos", "--node", "chaos-collector", "--heartbeat", "100ms",
		"--kmsg", "", "--dns=false", "--http", "127.0.0.1:"+strconv.Itoa(port), "--state-dir", filepath.Join(r.dir, "collector"))
	if err != nil {
		return err
	}
	defer c.Stop(10 * time.Second)
	metrics := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := childproc.WaitReady(wctx, fmt.Sprintf("http://127.0.0.1:%d/readyz", port), c); err != nil {
		return err
	}
	time.Sleep(2 * time.Second)
	how := "stopped"
	if r.o.OutageKill {
		r.nats.Kill()
		how = "killed (SIGKILL)"
	} else {
		r.nats.Stop(10 * time.Second)
	}
	rep.Outage = r.o.Outage
	fmt.Fprintf(r.o.Out, "nats-server %s for %s\n", how, r.o.Outage)
	time.Sleep(r.o.Outage)
	if err := r.startNATS(ctx); err != nil {
		return err
	}
	fmt.Fprintln(r.o.Out, "nats-server back")
	// Drained: nothing spooled, and a couple of heartbeats on top.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if v, err := childproc.Scrape(metrics, "aftershock_spool_events"); err == nil && v == 0 {
			break
		}
		if time.Now().After(deadline) {
			return errors.New("the collector's spool did not drain within 2m")
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second)
	// Counted just before the stop: the stop may let one more heartbeat
	// through, so stored may exceed accepted by one or two.
	// The collector's events by outcome "published": stored, or spooled to be.
	accepted, err := childproc.Scrape(metrics, "aftershock_collector_events_total", `outcome="published"`)
	if err != nil {
		return err
	}
	rep.CollectorAccepted = int(accepted)
	c.Stop(10 * time.Second)
	rep.CollectorStored, err = r.storedOf(ctx, "events.chaos.chaos-collector.>")
	return err
}

// awaitPages waits until every published event has its page, or nothing
// new arrived for 30 s.
func (r *run) awaitPages(ctx context.Context, published map[int]time.Time) {
	last, lastN := time.Now(), -1
	for time.Since(last) < 30*time.Second && ctx.Err() == nil {
		got := r.pages.snapshot()
		n := 0
		for seq := range published {
			if len(got[seq]) > 0 {
				n++
			}
		}
		if n == len(published) {
			return
		}
		if n != lastN {
			last, lastN = time.Now(), n
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// storedOf counts the messages EVENTS holds on subject.
func (r *run) storedOf(ctx context.Context, subject string) (int, error) {
	nc, err := nats.Connect(r.natsURL)
	if err != nil {
		return 0, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return 0, err
	}
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return 0, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n, nil
}

func (r *run) stopAll() {
	for _, p := range r.routers {
		if p != nil {
			p.Stop(10 * time.Second)
		}
	}
	if r.nats != nil {
		r.nats.Stop(10 * time.Second)
	}
	if r.pages != nil {
		_ = r.pages.srv.Close()
	}
}

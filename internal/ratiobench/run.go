package ratiobench

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/childproc"
)

// Case is one load: a backlog and the rules on top of the shipped pack.
type Case struct {
	Name  string
	Load  Load
	Rules int // generated rules added to the pack
}

// DefaultCases are issue #12's three loads.
var DefaultCases = []Case{
	{"shipped pack, fleet mix", Fleet, 0},
	{"pack + 100 rules, 20 app types", App, 100},
	{"pack + 1000 rules, 20 app types", App, 1000},
}

// Options of a measurement.
type Options struct {
	// Bin holds the router, nats-server and nats binaries.
	Bin string
	// Pack is the shipped rule pack's directory.
	Pack   string
	Events int
	Runs   int
	Cases  []Case
	// Profile, when set, adds one router run per case in this process
	// (started by Start) with a CPU profile written there (not counted in
	// the shares).
	Profile string
	Start   StartFunc
	Out     io.Writer
}

// Result of one alternating run.
type Result struct {
	NATSBench, Router float64 // messages or events per second
}

// Share is the router's rate as a percentage of nats bench's.
func (r Result) Share() float64 { return 100 * r.Router / r.NATSBench }

// Run measures every case and prints the table.
func Run(ctx context.Context, o Options) error {
	if o.Profile != "" {
		// now, not after minutes of runs whose table an error would lose
		if err := os.MkdirAll(o.Profile, 0o755); err != nil {
			return fmt.Errorf("profile directory: %w", err)
		}
	}
	all := map[string][]Result{}
	for _, c := range o.Cases {
		res, err := runCase(ctx, o, c)
		if err != nil {
			return fmt.Errorf("%s: %w", c.Name, err)
		}
		all[c.Name] = res
	}
	fmt.Fprintf(o.Out, "\n| load | nats bench msgs/s | router events/s (5→95 %%) | share |\n|---|---|---|---|\n")
	for _, c := range o.Cases {
		res := all[c.Name]
		nb, rt, sh := span(res, func(r Result) float64 { return r.NATSBench / 1000 }), span(res, func(r Result) float64 { return r.Router / 1000 }), span(res, Result.Share)
		fmt.Fprintf(o.Out, "| %s, %d events | %.0f–%.0fk/s | %.0f–%.0fk/s | **%.0f–%.0f %%** |\n", c.Name, o.Events, nb[0], nb[1], rt[0], rt[1], sh[0], sh[1])
	}
	return nil
}

func span(res []Result, f func(Result) float64) [2]float64 {
	lo, hi := f(res[0]), f(res[0])
	for _, r := range res[1:] {
		lo, hi = min(lo, f(r)), max(hi, f(r))
	}
	return [2]float64{lo, hi}
}

func runCase(ctx context.Context, o Options, c Case) ([]Result, error) {
	dir, err := os.MkdirTemp("", "bench-ratio-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	rules := filepath.Join(dir, "rules")
	if err := WritePack(o.Pack, rules, c.Rules); err != nil {
		return nil, err
	}
	srv, url, err := startServer(ctx, dir, o.Bin, filepath.Join(dir, "js"))
	if err != nil {
		return nil, err
	}
	defer srv.Stop(stopGrace)
	nc, err := connect(ctx, url)
	if err != nil {
		return nil, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	// A first start on the empty stream provisions it and creates the
	// router's consumer at its beginning; each run starts from a copy.
	r, err := startRouter(ctx, o.Bin, url, rules, filepath.Join(dir, "router-0"))
	if err != nil {
		return nil, err
	}
	r.Stop(stopGrace)
	cons, err := js.Consumer(ctx, bus.StreamEvents, "router")
	if err != nil {
		return nil, fmt.Errorf("router consumer: %w", err)
	}
	cfg := cons.CachedInfo().Config
	fmt.Fprintf(o.Out, "## %s: storing %d events … ", c.Name, o.Events)
	took, err := store(ctx, js, c.Load, o.Events)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(o.Out, "%.1fs; load average %s\n", took.Seconds(), loadavg())
	var res []Result
	for run := 1; run <= o.Runs; run++ {
		nb, err := natsBench(ctx, js, o.Bin, url, o.Events, dir)
		if err != nil {
			return nil, err
		}
		if err := resetConsumer(ctx, js, cfg); err != nil {
			return nil, err
		}
		m, err := routerRun(ctx, js, o.Bin, url, rules, filepath.Join(dir, fmt.Sprintf("router-%d", run)), o.Events)
		if err != nil {
			return nil, err
		}
		res = append(res, Result{NATSBench: nb, Router: m.rate})
		fmt.Fprintf(o.Out, "run %d: nats bench %.0f msgs/s, router %.0f events/s: %.0f %% (router CPU %.1f µs/event, %.2f cores; load average %s)\n",
			run, nb, m.rate, res[len(res)-1].Share(), float64(m.cpu)/1e3, m.cores, loadavg())
	}
	if o.Profile != "" {
		if err := resetConsumer(ctx, js, cfg); err != nil {
			return nil, err
		}
		path := filepath.Join(o.Profile, fmt.Sprintf("router-%d-rules.pprof", c.Rules))
		rate, err := profileRun(ctx, js, o.Start, url, rules, filepath.Join(dir, "router-prof"), o.Events, path)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(o.Out, "profile: router in-process %.0f events/s, CPU profile %s\n", rate, path)
	}
	return res, nil
}

// WritePack copies the pack's rule and routing files (not its tests) to dir
// and adds n generated rules.
func WritePack(pack, dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files, err := filepath.Glob(filepath.Join(pack, "*.yaml"))
	if err != nil {
		return err
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.yaml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			return err
		}
	}
	if n == 0 {
		return nil
	}
	return os.WriteFile(filepath.Join(dir, "generated.yaml"), []byte(Rules(n)), 0o644)
}

func startServer(ctx context.Context, dir, bin, store string) (*childproc.Proc, string, error) {
	port, err := childproc.FreePort()
	if err != nil {
		return nil, "", err
	}
	p, err := childproc.NATSServer(ctx, dir, filepath.Join(bin, "nats-server"), store, port)
	if err != nil {
		return nil, "", err
	}
	return p, fmt.Sprintf("nats://127.0.0.1:%d", port), nil
}

func connect(ctx context.Context, url string) (*nats.Conn, error) {
	deadline := time.Now().Add(20 * time.Second)
	for {
		nc, err := nats.Connect(url)
		if err == nil {
			return nc, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("connect %s: %w", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stopGrace is how long a child is given to shut down before SIGKILL.
const stopGrace = 30 * time.Second

func store(ctx context.Context, js jetstream.JetStream, l Load, n int) (time.Duration, error) {
	begin := time.Now()
	start := begin.Add(-5 * time.Minute)
	for i := range n {
		m, err := Backlog(l, i, n, start)
		if err != nil {
			return 0, err
		}
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: m.Subject, Data: m.Data}, jetstream.WithMsgID(m.ID)); err != nil {
			return 0, fmt.Errorf("publish: %w", err)
		}
		if i%2000 == 1999 {
			<-js.PublishAsyncComplete()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		return 0, fmt.Errorf("publishing the backlog timed out")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return time.Since(begin), nil
}

// resetConsumer puts the router's consumer back at the stream's beginning.
func resetConsumer(ctx context.Context, js jetstream.JetStream, cfg jetstream.ConsumerConfig) error {
	if err := js.DeleteConsumer(ctx, bus.StreamEvents, cfg.Durable); err != nil {
		return fmt.Errorf("delete consumer: %w", err)
	}
	if _, err := js.CreateConsumer(ctx, bus.StreamEvents, cfg); err != nil {
		return fmt.Errorf("create consumer: %w", err)
	}
	return nil
}

// natsBench runs `nats bench js consume --acks explicit` on EVENTS from the
// beginning. The CLI creates its consumer (deliver all) only under its
// default name, so a previous run's is deleted first.
func natsBench(ctx context.Context, js jetstream.JetStream, bin, url string, n int, dir string) (float64, error) {
	const consumer = "nats-bench"
	if err := js.DeleteConsumer(ctx, bus.StreamEvents, consumer); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return 0, fmt.Errorf("delete consumer %s: %w", consumer, err)
	}
	path := filepath.Join(dir, "nats-bench.csv")
	cmd := exec.CommandContext(ctx, filepath.Join(bin, "nats"), "--server", url, "bench", "js", "consume",
		"--stream", bus.StreamEvents, "--msgs", strconv.Itoa(n), "--acks", "explicit",
		"--no-progress", "--csv", path)
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("nats bench: %w\n%s", err, out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) < 2 {
		return 0, fmt.Errorf("nats bench csv %q: %v", b, err)
	}
	for i, h := range rows[0] {
		if h == "MsgsPerSec" || h == "Msgs/s" || h == "MsgPerSec" {
			return strconv.ParseFloat(rows[1][i], 64)
		}
	}
	return 0, fmt.Errorf("no msgs/s column in %v", rows[0])
}

type routerProc struct {
	*childproc.Proc
	metrics string
}

func startRouter(ctx context.Context, bin, url, rules, state string) (*routerProc, error) {
	port, err := childproc.FreePort()
	if err != nil {
		return nil, err
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	p, err := childproc.Start(filepath.Dir(state), filepath.Base(state), filepath.Join(bin, "router"), nil, "--nats", url, "--rules", rules, "--state-dir", state,
		"--http", addr, "--no-rules-watch", "--log-level", "error")
	if err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := childproc.WaitReady(wctx, "http://"+addr+"/readyz", p); err != nil {
		p.Stop(stopGrace)
		return nil, fmt.Errorf("%w: %s", err, p.LogTail(2000))
	}
	return &routerProc{Proc: p, metrics: "http://" + addr + "/metrics"}, nil
}

// routerRun starts the router and returns its rate while it works through
// 5 % to 95 % of the backlog. Progress is read from its consumer's ack
// floor on the server (the router acks an event once it is evaluated and
// its alerts are stored), polled every 50 ms: scraping /metrics that often
// would slow the router down (a scrape of a thousand rules' series costs it
// 20 ms of CPU). Once every event is acked, aftershock_router_events_total
// must count the whole backlog, or the run is an error.
func routerRun(ctx context.Context, js jetstream.JetStream, bin, url, rules, state string, n int) (measure, error) {
	r, err := startRouter(ctx, bin, url, rules, state)
	if err != nil {
		return measure{}, err
	}
	defer r.Stop(stopGrace)
	cons, err := js.Consumer(ctx, bus.StreamEvents, "router")
	if err != nil {
		return measure{}, fmt.Errorf("router consumer: %w", err)
	}
	acked := func() (float64, error) {
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, err
		}
		return float64(info.AckFloor.Stream), nil
	}
	m, err := watch(ctx, n, acked, func() float64 { return cpuSeconds(r.Cmd.Process.Pid) })
	if err != nil {
		return m, err
	}
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
		if c, err := acked(); err == nil && c >= float64(n) {
			break
		}
		if time.Now().After(deadline) {
			return m, fmt.Errorf("router did not ack the whole backlog")
		}
	}
	total, err := childproc.Scrape(r.metrics, "aftershock_router_events_total")
	if err != nil {
		return m, err
	}
	if total != float64(n) {
		return m, fmt.Errorf("aftershock_router_events_total is %v after acking %d events", total, n)
	}
	return m, nil
}

// measure is a router run between 5 % and 95 % of the backlog.
type measure struct {
	rate float64 // events per second
	// cpu is the router's CPU time per event and cores its CPU time per
	// second, between the polls nearest 5 % and 95 % (0 when unknown).
	cpu   time.Duration
	cores float64
}

// cpuSeconds is a process's user and system time from /proc (0 when it
// cannot be read).
func cpuSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (ut + st) / 100 // USER_HZ is 100 on Linux
}

// watch polls count until it passes 95 % of n and returns the rate
// between the 5 % and 95 % crossings, each placed by linear interpolation
// between two polls 50 ms apart.
func watch(ctx context.Context, n int, count func() (float64, error), cpu func() float64) (measure, error) {
	lo, hi := 0.05*float64(n), 0.95*float64(n)
	var t5, prevT time.Time
	var prevC, c5, cpu5 float64
	deadline := time.Now().Add(10 * time.Minute)
	cross := func(target float64, t time.Time, c float64) time.Time {
		if prevT.IsZero() || c == prevC {
			return t
		}
		return prevT.Add(time.Duration(float64(t.Sub(prevT)) * (target - prevC) / (c - prevC)))
	}
	for {
		c, err := count()
		now := time.Now()
		if err == nil {
			if t5.IsZero() && c >= lo {
				t5, c5, cpu5 = cross(lo, now, c), c, cpu()
			}
			if c >= hi && !t5.IsZero() {
				t95 := cross(hi, now, c)
				if !t95.After(t5) {
					return measure{}, fmt.Errorf("counter passed 5 %% and 95 %% between two polls")
				}
				m := measure{rate: (hi - lo) / t95.Sub(t5).Seconds()}
				if used := cpu() - cpu5; used > 0 && c > c5 {
					m.cpu = time.Duration(used / (c - c5) * float64(time.Second))
					m.cores = used * m.rate / (c - c5)
				}
				return m, nil
			}
			prevT, prevC = now, c
		}
		if now.After(deadline) || ctx.Err() != nil {
			return measure{}, fmt.Errorf("router did not reach 95 %% of %d events (last count %v, %v)", n, c, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

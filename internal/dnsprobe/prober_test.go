package dnsprobe

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/aftershock/aftershock/internal/event"
)

// Server modes: how the loopback test resolver behaves.
const (
	modeAnswer int32 = iota
	modeServfail
	modeRefused
	modeNXDomain
	modeDrop // no answer at all: the client times out
	modeSlow // answers after delay
)

// testResolver is a real DNS server (UDP and TCP on one loopback port)
// that misbehaves on demand.
type testResolver struct {
	addr    string
	mode    atomic.Int32
	delay   atomic.Int64 // ns, for modeSlow
	queries atomic.Int64
	servers []*dns.Server
}

func newResolver(t testing.TB) *testResolver {
	t.Helper()
	r := &testResolver{}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		r.queries.Add(1)
		m := new(dns.Msg)
		m.SetReply(q)
		switch r.mode.Load() {
		case modeDrop:
			return
		case modeServfail:
			m.Rcode = dns.RcodeServerFailure
		case modeRefused:
			m.Rcode = dns.RcodeRefused
		case modeNXDomain:
			m.Rcode = dns.RcodeNameError
		case modeSlow:
			time.Sleep(time.Duration(r.delay.Load()))
			fallthrough
		default:
			rr, _ := dns.NewRR(q.Question[0].Name + " 30 IN A 10.96.0.1")
			m.Answer = append(m.Answer, rr)
		}
		_ = w.WriteMsg(m)
	})
	var pc net.PacketConn
	var ln net.Listener
	for range 20 { // a free UDP port whose TCP twin is free too
		var err error
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			t.Fatal(err)
		}
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			break
		}
		pc.Close()
		pc = nil
	}
	if pc == nil {
		t.Fatal("no free port pair")
	}
	r.addr = pc.LocalAddr().String()
	for _, s := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		s.NotifyStartedFunc = func() { close(started) }
		go func() { _ = s.ActivateAndServe() }()
		<-started
		r.servers = append(r.servers, s)
	}
	t.Cleanup(r.stop)
	return r
}

func (r *testResolver) stop() {
	for _, s := range r.servers {
		_ = s.Shutdown()
	}
	r.servers = nil
}

type emitted struct {
	typ  string
	t    time.Time
	data json.RawMessage
}

func (e emitted) String() string { return e.typ + " " + string(e.data) }

// recorder is the Emitter: it keeps what would be published, encoded as the
// collector would.
type recorder struct {
	mu  sync.Mutex
	evs []emitted
}

func (r *recorder) Emit(_ context.Context, typ string, t time.Time, data any) error {
	ev, err := event.New(typ, "test", "c", "n", t, data)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, emitted{typ, t, ev.Data})
	return nil
}

func (r *recorder) take() []emitted {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.evs
	r.evs = nil
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newProber(t testing.TB, cfg Config) *Prober {
	t.Helper()
	p, err := New(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func decode[T any](t testing.TB, e emitted) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(e.data, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

var t0 = time.Date(2020, 6, 14, 13, 14, 0, 0, time.UTC)

func TestFailureModes(t *testing.T) {
	res := newResolver(t)
	tests := []struct {
		name    string
		mode    int32
		delay   time.Duration
		typ     string // expected failure type; "" for none
		rcode   string
		errText string
	}{
		{"answers", modeAnswer, 0, "", "", ""},
		{"answers slowly within the timeout", modeSlow, 30 * time.Millisecond, "", "", ""},
		{"servfail", modeServfail, 0, event.TypeDNSError, "SERVFAIL", ""},
		{"refused", modeRefused, 0, event.TypeDNSError, "REFUSED", ""},
		{"nxdomain", modeNXDomain, 0, event.TypeDNSError, "NXDOMAIN", ""},
		{"drops queries", modeDrop, 0, event.TypeDNSTimeout, "", "timeout"},
		{"answers after the timeout", modeSlow, 600 * time.Millisecond, event.TypeDNSTimeout, "", "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res.mode.Store(tt.mode)
			res.delay.Store(int64(tt.delay))
			p := newProber(t, Config{Targets: []string{res.addr}, Names: []string{"kubernetes.default.svc.cluster.local"},
				TCP: true, Interval: time.Second, Timeout: 300 * time.Millisecond, Summary: time.Second})
			rec := &recorder{}
			p.round(context.Background(), t0, rec)
			evs := rec.take()
			if tt.typ == "" {
				if len(evs) != 0 {
					t.Fatalf("healthy server produced %v", evs)
				}
			} else {
				if len(evs) != 2 {
					t.Fatalf("got %d events, want one per transport: %v", len(evs), evs)
				}
				seen := map[string]bool{}
				for _, e := range evs {
					d := decode[event.DNSFailure](t, e)
					if e.typ != tt.typ || d.Rcode != tt.rcode || d.Server != res.addr || d.Name != "kubernetes.default.svc.cluster.local." ||
						d.Count != 1 || !d.First.Equal(t0) || d.TimeoutMS != 300 || !strings.Contains(d.Error, tt.errText) {
						t.Errorf("%s %+v", e.typ, d)
					}
					if tt.typ == event.TypeDNSTimeout && d.WorstLatencyMS < 250 {
						t.Errorf("timeout after %.1fms, want about 300", d.WorstLatencyMS)
					}
					seen[d.Transport] = true
				}
				if !seen["udp"] || !seen["tcp"] {
					t.Errorf("transports %v", seen)
				}
			}
			// The summary a second later reports the round per server and transport.
			p.round(context.Background(), t0.Add(time.Second), rec)
			var sum *event.DNSProbe
			for _, e := range rec.take() {
				if e.typ == event.TypeDNSProbe {
					s := decode[event.DNSProbe](t, e)
					sum = &s
				}
			}
			if sum == nil || len(sum.Servers) != 2 {
				t.Fatalf("summary %+v", sum)
			}
			for _, s := range sum.Servers {
				if tt.typ == "" && (s.OK != 2 || s.Failed != 0 || s.P50MS < float64(tt.delay.Milliseconds()) || s.P99MS < s.P50MS) {
					t.Errorf("healthy summary %+v", s)
				}
				if tt.typ != "" && (s.Failed != 2 || s.OK != 0) {
					t.Errorf("failing summary %+v", s)
				}
			}
		})
	}
}

func TestServerGone(t *testing.T) {
	res := newResolver(t)
	res.stop() // nothing listens: UDP gets ICMP port unreachable, TCP a reset
	p := newProber(t, Config{Targets: []string{res.addr}, TCP: true, Interval: time.Second, Timeout: 300 * time.Millisecond})
	rec := &recorder{}
	p.round(context.Background(), t0, rec)
	evs := rec.take()
	if len(evs) != 2 {
		t.Fatalf("events %v", evs)
	}
	for _, e := range evs {
		d := decode[event.DNSFailure](t, e)
		if e.typ != event.TypeDNSError || d.Rcode != "" || !strings.Contains(d.Error, "refused") {
			t.Errorf("%s %+v", e.typ, d)
		}
	}
}

// TestOutageRollup: a resolver queried every 100 ms is down for 10 s. The
// probes and their timeouts are real; the clock that stamps and rolls them
// up is synthetic, so the test takes about 100 × the query timeout. The
// healthy rounds must be answered within it too: 20 ms was not always
// enough on a loaded machine (a late answer made one more timeout).
func TestOutageRollup(t *testing.T) {
	res := newResolver(t)
	const timeout = 100 * time.Millisecond
	p := newProber(t, Config{Targets: []string{res.addr}, Interval: 100 * time.Millisecond, Timeout: timeout,
		Rollup: 5 * time.Second, Summary: 5 * time.Second})
	rec := &recorder{}
	now := t0
	step := func(n int) {
		for range n {
			p.round(context.Background(), now, rec)
			now = now.Add(100 * time.Millisecond)
		}
	}
	step(20) // healthy for 2 s
	down := now
	res.mode.Store(modeDrop)
	step(100) // down for 10 s: 100 timeouts
	up := now
	res.mode.Store(modeAnswer)
	step(30)
	p.flush(context.Background(), rec)

	var failures, total, summaries, recovered int
	var first, last time.Time
	for _, e := range rec.take() {
		switch e.typ {
		case event.TypeDNSTimeout:
			d := decode[event.DNSFailure](t, e)
			failures++
			total += d.Count
			if first.IsZero() {
				first = d.First
				if d.Count != 1 || !d.First.Equal(down) {
					t.Errorf("first timeout not published at once: %+v", d)
				}
			}
			last = d.Last
			if d.Count > 1 && d.WorstLatencyMS < float64(timeout.Milliseconds())*0.8 {
				t.Errorf("rollup worst latency %.1fms", d.WorstLatencyMS)
			}
		case event.TypeDNSRecovered:
			recovered++
			d := decode[event.DNSRecovered](t, e)
			if !d.DownSince.Equal(down) || d.Failures != 100 || !e.t.Equal(up) {
				t.Errorf("recovered %+v at %s", d, e.t)
			}
		case event.TypeDNSProbe:
			summaries++
		default:
			t.Errorf("unexpected %s", e.typ)
		}
	}
	if total != 100 {
		t.Errorf("rolled-up counts add to %d, want the 100 timeouts", total)
	}
	// One at once, then one per 5 s rollup interval of the outage.
	if failures < 2 || failures > 4 {
		t.Errorf("%d timeout events for a 10 s outage, want 2-4", failures)
	}
	if !last.Equal(up.Add(-100 * time.Millisecond)) {
		t.Errorf("last failure %s, want %s", last, up.Add(-100*time.Millisecond))
	}
	if recovered != 1 || summaries != 2 {
		t.Errorf("recovered %d, summaries %d", recovered, summaries)
	}
	if q := res.queries.Load(); q != 150 {
		t.Errorf("resolver saw %d queries, want 150", q)
	}
}

func TestKindChangePublishedAtOnce(t *testing.T) {
	res := newResolver(t)
	// The dropped round waits out Timeout; the SERVFAIL rounds must be
	// answered within it, on a loaded machine too.
	p := newProber(t, Config{Targets: []string{res.addr}, Interval: time.Second, Timeout: 500 * time.Millisecond})
	rec := &recorder{}
	res.mode.Store(modeDrop)
	p.round(context.Background(), t0, rec)
	res.mode.Store(modeServfail)
	p.round(context.Background(), t0.Add(time.Second), rec)
	p.round(context.Background(), t0.Add(2*time.Second), rec)
	evs := rec.take()
	if len(evs) != 2 || evs[0].typ != event.TypeDNSTimeout || evs[1].typ != event.TypeDNSError {
		t.Fatalf("events %v", evs)
	}
}

func TestRunPublishesUntilCancelled(t *testing.T) {
	res := newResolver(t)
	res.mode.Store(modeServfail)
	// A SERVFAIL answered later than Timeout would be a timeout, a new
	// kind, flushing the rollup early (two rollups): give the answers
	// room on a loaded machine.
	p := newProber(t, Config{Targets: []string{res.addr}, Interval: 250 * time.Millisecond, Timeout: 250 * time.Millisecond,
		Rollup: time.Hour, Summary: 500 * time.Millisecond})
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Run(ctx, rec) }()
	for {
		got := map[string]bool{}
		rec.mu.Lock()
		for _, e := range rec.evs {
			got[e.typ] = true
		}
		rec.mu.Unlock()
		if got[event.TypeDNSProbe] && got[event.TypeDNSError] {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The hour-long rollup was published at shutdown.
	var rolled int
	for _, e := range rec.take() {
		if e.typ == event.TypeDNSError && decode[event.DNSFailure](t, e).Count > 1 {
			rolled++
		}
	}
	if rolled != 1 {
		t.Fatalf("%d rollups flushed at shutdown, want 1", rolled)
	}
}

func TestConfig(t *testing.T) {
	dir := t.TempDir()
	rc := filepath.Join(dir, "resolv.conf")
	if err := os.WriteFile(rc, []byte("# generated\nsearch svc.cluster.local\nnameserver 10.0.0.2\nnameserver fd00::53\noptions ndots:5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := newProber(t, Config{ResolvConf: rc, Targets: []string{"169.254.20.10", "10.96.0.10:5353"}, TCP: true})
	var got []string
	for _, pr := range p.probes {
		got = append(got, pr.key())
	}
	want := []string{
		"10.0.0.2:53 . udp", "10.0.0.2:53 . tcp", "[fd00::53]:53 . udp", "[fd00::53]:53 . tcp",
		"169.254.20.10:53 kubernetes.default.svc.cluster.local. udp", "169.254.20.10:53 kubernetes.default.svc.cluster.local. tcp",
		"10.96.0.10:5353 kubernetes.default.svc.cluster.local. udp", "10.96.0.10:5353 kubernetes.default.svc.cluster.local. tcp",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("probes\n%v\nwant\n%v", got, want)
	}

	bad := []struct {
		name    string
		cfg     Config
		mention string
	}{
		{"host name target", Config{Targets: []string{"kube-dns"}}, `dns target "kube-dns"`},
		{"bad name", Config{Targets: []string{"10.0.0.1"}, Names: []string{"a..b"}}, `dns name "a..b"`},
		{"timeout over interval", Config{Targets: []string{"10.0.0.1"}, Interval: time.Second, Timeout: 2 * time.Second}, "dns timeout 2s"},
		{"rollup under interval", Config{Targets: []string{"10.0.0.1"}, Rollup: time.Second}, "dns rollup 1s"},
		{"nothing to probe", Config{ResolvConf: filepath.Join(dir, "missing")}, "no resolvers to probe"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg, quiet())
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("err = %v, want mention of %q", err, tt.mention)
			}
		})
	}
	// A missing resolv.conf is fine when targets are configured.
	if _, err := New(Config{ResolvConf: filepath.Join(dir, "missing"), Targets: []string{"10.0.0.1"}}, quiet()); err != nil {
		t.Fatal(err)
	}
}

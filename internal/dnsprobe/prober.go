package dnsprobe

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"math"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/miekg/dns"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rollup"
)

// Emitter publishes an event; the collector implements it.
type Emitter interface {
	Emit(ctx context.Context, typ string, t time.Time, data any) error
}

// Prober is the DNS source. Run drives it with the wall clock; tests call
// round with a synthetic clock while the DNS traffic stays real.
type Prober struct {
	cfg    Config
	log    *slog.Logger
	probes []probe
	state  map[string]*probeState
	fails  *rollup.Rollup[failure]
	stats  map[string]*serverStats // by server+transport
	// summaryAt is when the current dns.probe interval started.
	summaryAt time.Time
}

type probeState struct {
	failing   bool
	kind      string // type and rcode of the current failure
	downSince time.Time
	failures  int
}

// failure is the rollup value: what identifies the failure and the worst
// latency seen.
type failure struct {
	typ  string
	data event.DNSFailure
}

type serverStats struct {
	server, transport string
	ok, failed        int
	latencies         []float64
}

// New checks cfg and reads resolv.conf.
func New(cfg Config, log *slog.Logger) (*Prober, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	probes, err := cfg.probes()
	if probes == nil {
		return nil, err
	}
	if err != nil {
		log.Warn("dns: probing configured targets only", "err", err)
	}
	p := &Prober{cfg: cfg, log: log, probes: probes, state: map[string]*probeState{}, stats: map[string]*serverStats{}}
	p.fails = rollup.New(cfg.Rollup, func(dst *failure, src failure) {
		dst.data.WorstLatencyMS = max(dst.data.WorstLatencyMS, src.data.WorstLatencyMS)
		dst.data.Error = src.data.Error
	})
	return p, nil
}

// Name implements the collector's Source.
func (p *Prober) Name() string { return "dns" }

// Run probes every Interval until ctx ends, then publishes what is rolled up.
func (p *Prober) Run(ctx context.Context, emit Emitter) error {
	servers := map[string]bool{}
	for _, pr := range p.probes {
		servers[pr.server] = true
	}
	p.log.Info("dns probing", "servers", len(servers), "probes", len(p.probes), "interval", p.cfg.Interval.String())
	t := time.NewTicker(p.cfg.Interval)
	defer t.Stop()
	for {
		p.round(ctx, time.Now(), emit)
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			p.flush(fctx, emit)
			return nil
		case <-t.C:
		}
	}
}

// result is one query's outcome.
type result struct {
	probe   probe
	latency time.Duration
	typ     string // "" when it answered
	rcode   string
	err     error
}

// round queries every probe concurrently, then turns the results into events
// at time now, and publishes the rollups and summary that are due.
func (p *Prober) round(ctx context.Context, now time.Time, emit Emitter) {
	results := make([]result, len(p.probes))
	var wg sync.WaitGroup
	for i, pr := range p.probes {
		wg.Go(func() { results[i] = p.query(ctx, pr) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return // a cancelled query is not a DNS failure
	}
	for _, r := range results {
		p.record(ctx, now, r, emit)
	}
	for _, g := range p.fails.Due(now) {
		p.emitRollup(ctx, g, emit)
	}
	if p.summaryAt.IsZero() {
		p.summaryAt = now
	} else if !now.Before(p.summaryAt.Add(p.cfg.Summary)) {
		p.emitSummary(ctx, now, emit)
	}
}

func (p *Prober) query(ctx context.Context, pr probe) result {
	m := new(dns.Msg)
	m.SetQuestion(pr.name, pr.qtype)
	c := &dns.Client{Net: pr.transport, Timeout: p.cfg.Timeout}
	qctx, cancel := context.WithTimeout(ctx, p.cfg.Timeout)
	defer cancel()
	start := time.Now()
	resp, _, err := c.ExchangeContext(qctx, m, pr.server)
	r := result{probe: pr, latency: time.Since(start)}
	var ne net.Error
	switch {
	case err != nil && (errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)):
		r.typ, r.err = event.TypeDNSTimeout, err
	case err != nil:
		r.typ, r.err = event.TypeDNSError, err
	case resp.Rcode != dns.RcodeSuccess:
		r.typ, r.rcode = event.TypeDNSError, dns.RcodeToString[resp.Rcode]
	}
	return r
}

// record updates the probe's state and stats. The first failure of an
// outage (or a change of kind, e.g. timeouts turning into SERVFAIL) is
// published at once; repeats go into the interval's rollup; the first answer
// after failures publishes dns.recovered.
func (p *Prober) record(ctx context.Context, now time.Time, r result, emit Emitter) {
	key := r.probe.key()
	st := p.state[key]
	if st == nil {
		st = &probeState{}
		p.state[key] = st
	}
	ms := float64(r.latency.Microseconds()) / 1000
	stats := p.serverStats(r.probe)
	if r.typ == "" {
		stats.ok++
		if len(stats.latencies) < 100000 {
			stats.latencies = append(stats.latencies, ms)
		}
		if st.failing {
			p.emit(ctx, emit, event.TypeDNSRecovered, now, event.DNSRecovered{
				Server: r.probe.server, Name: r.probe.name, Transport: r.probe.transport,
				DownSince: st.downSince.UTC(), Failures: st.failures,
			})
			*st = probeState{}
		}
		return
	}
	stats.failed++
	f := failure{typ: r.typ, data: event.DNSFailure{
		Server: r.probe.server, Name: r.probe.name, Transport: r.probe.transport,
		TimeoutMS: p.cfg.Timeout.Milliseconds(), Rcode: r.rcode, WorstLatencyMS: ms,
	}}
	if r.err != nil {
		f.data.Error = r.err.Error()
	}
	kind := r.typ + " " + r.rcode
	if !st.failing {
		st.failing, st.downSince = true, now
	}
	st.failures++
	if st.kind != kind {
		st.kind = kind
		d := f.data
		d.Count, d.First, d.Last = 1, now.UTC(), now.UTC()
		p.emit(ctx, emit, r.typ, now, d)
		return
	}
	p.fails.Add(kind+" "+key, now, f)
}

func (p *Prober) serverStats(pr probe) *serverStats {
	k := pr.server + " " + pr.transport
	s := p.stats[k]
	if s == nil {
		s = &serverStats{server: pr.server, transport: pr.transport}
		p.stats[k] = s
	}
	return s
}

func (p *Prober) emitRollup(ctx context.Context, g rollup.Group[failure], emit Emitter) {
	d := g.Value.data
	d.Count, d.First, d.Last = g.Count, g.First.UTC(), g.Last.UTC()
	p.emit(ctx, emit, g.Value.typ, g.Last, d)
}

func (p *Prober) emitSummary(ctx context.Context, now time.Time, emit Emitter) {
	d := event.DNSProbe{IntervalSeconds: now.Sub(p.summaryAt).Seconds()}
	for _, s := range p.stats {
		slices.Sort(s.latencies)
		d.Servers = append(d.Servers, event.DNSServerStats{
			Server: s.server, Transport: s.transport, OK: s.ok, Failed: s.failed,
			P50MS: percentile(s.latencies, 0.50), P99MS: percentile(s.latencies, 0.99),
		})
	}
	slices.SortFunc(d.Servers, func(a, b event.DNSServerStats) int {
		if a.Server != b.Server {
			return cmp.Compare(a.Server, b.Server)
		}
		return cmp.Compare(a.Transport, b.Transport)
	})
	p.stats = map[string]*serverStats{}
	p.summaryAt = now
	if len(d.Servers) > 0 {
		p.emit(ctx, emit, event.TypeDNSProbe, now, d)
	}
}

// flush publishes the open rollups (at shutdown).
func (p *Prober) flush(ctx context.Context, emit Emitter) {
	for _, g := range p.fails.Flush() {
		p.emitRollup(ctx, g, emit)
	}
	if n := p.fails.Overflow(); n > 0 {
		p.log.Warn("dns: failures not rolled up (key cap reached)", "count", n)
	}
}

func (p *Prober) emit(ctx context.Context, emit Emitter, typ string, t time.Time, data any) {
	if err := emit.Emit(ctx, typ, t, data); err != nil {
		p.log.Warn("dns: publish failed", "type", typ, "err", err)
	}
}

// percentile is the nearest-rank percentile of sorted values (0 when empty).
func percentile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(float64(len(sorted))*q)) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

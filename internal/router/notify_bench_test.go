package router_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/notify/slack/slacktest"
	"github.com/aftershock/aftershock/internal/router"
)

const benchRouting = `route:
  receiver: oncall
  group_by: ["..."]
  group_wait: 0s
receivers:
  - name: oncall
    rate_limit: {messages: 1000000, per: 1s}
    slack:
      token: {env: BENCH_SLACK_TOKEN}
      channel: "#bench"
      api_url: %s
`

// slackRouter starts a router on the server at url with the test rules and
// the routing given the fake Slack's API URL; both stop when b ends.
func slackRouter(b *testing.B, url string, fake *slacktest.Server, routing func(api string) string) *router.Router {
	b.Helper()
	hs := httptest.NewServer(fake)
	b.Cleanup(hs.Close)
	dir := rulesDir(b)
	if err := os.WriteFile(filepath.Join(dir, "routing.yaml"), []byte(routing(hs.URL+"/api/")), 0o644); err != nil {
		b.Fatal(err)
	}
	r, err := router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: url}, RulesDir: dir, HTTPAddr: "127.0.0.1:0", Console: &bustest.Buffer{},
		StateDir: b.TempDir(), Getenv: func(string) string { return "xoxb-bench" },
	}, bustest.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	return r
}

var benchSeq = regexp.MustCompile(`seq=(\d+)`)

// arrived is, for each event (seq=N) a post names whose publish time is
// still in sent, the time from its publish to the post's arrival; the
// time is taken, so a later message naming it again does not count.
func arrived(p slacktest.Post, sent []atomic.Int64) []time.Duration {
	var got []time.Duration
	for _, m := range benchSeq.FindAllStringSubmatch(p.RawBlocks, -1) {
		i, _ := strconv.Atoi(m[1])
		if i < len(sent) {
			if t := sent[i].Swap(0); t != 0 {
				got = append(got, p.At.Sub(time.Unix(0, t)))
			}
		}
	}
	return got
}

// BenchmarkEventToSlack is the whole router: events published to EVENTS at
// a fixed rate, each firing rule pipeline-test (one alert per event), the
// alert stored in ALERTS, taken by the lifecycle (zero group_wait), and
// posted by the Slack receiver to a fake Slack over loopback HTTP.
// p50/p99 are from the event's publish to the fake receiving the request;
// js-p50/js-p99 are the JetStream transport alone (publish → durable
// consumer, explicit ack) at the same rate on the same server, measured
// first in the same run. Run with -benchtime Nx (N events). lag-max is the
// largest backlog of the router's consumer seen (a growing lag means the
// router does not keep up with the rate). 5 000/s is about what a 2-core
// machine sustains with everything in one process (docs/benchmarks.md).
func BenchmarkEventToSlack(b *testing.B) {
	for _, rate := range []int{1000, 5000, 10000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			deployedGC(b)
			s := bustest.BenchServer(b)
			conn := bustest.Connect(b, s)
			js := bustest.TransportLatency(b, conn.JS, rate, b.N)

			fake := slacktest.New(b, "xoxb-bench")
			fake.Discard = true
			sent := make([]atomic.Int64, b.N)
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			done := make(chan struct{})
			fake.OnPost = func(p slacktest.Post) {
				got := arrived(p, sent)
				mu.Lock()
				defer mu.Unlock()
				lat = append(lat, got...)
				if len(got) > 0 && len(lat) == b.N {
					close(done)
				}
			}
			slackRouter(b, s.ClientURL(), fake, func(api string) string { return fmt.Sprintf(benchRouting, api) })
			// alerts-p50/p99: publish → the alert appearing on ALERTS (the
			// rule engine's share); the rest is the lifecycle and Slack.
			var alat []time.Duration
			sub, _ := conn.NC.Subscribe("alerts.>", func(m *nats.Msg) {
				if mm := benchSeq.FindSubmatch(m.Data); mm != nil {
					i, _ := strconv.Atoi(string(mm[1]))
					if t := sent[i].Load(); t != 0 {
						mu.Lock()
						alat = append(alat, time.Since(time.Unix(0, t)))
						mu.Unlock()
					}
				}
			})
			_ = sub.SetPendingLimits(-1, -1)
			defer func() { _ = sub.Unsubscribe() }()
			stop := make(chan struct{})
			lagMax := lagWatch(conn.JS, "router", stop)
			heap := bustest.WatchHeap()
			b.ResetTimer()
			bustest.Pace(rate, b.N, func(i int) {
				body := testEvent(fmt.Sprintf("01JBENCH%018d", i), "node1", "seq="+strconv.Itoa(i), time.Now())
				sent[i].Store(time.Now().UnixNano())
				if _, err := conn.JS.PublishMsgAsync(&nats.Msg{Subject: "events.dev.node1.app", Data: body}); err != nil {
					b.Error(err)
				}
			})
			select {
			case <-done:
			case <-time.After(3 * time.Minute):
				b.Fatalf("only %d of %d alerts reached Slack", len(lat), b.N)
			}
			b.StopTimer()
			close(stop)
			heap.Report(b, b.N)
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(lagMax()), "lag-max")
			mu.Lock()
			defer mu.Unlock()
			b.ReportMetric(float64(maxDuration(lat).Microseconds()), "max-µs")
			bustest.ReportLatency(b, "", lat)
			bustest.ReportLatency(b, "js-", js)
			bustest.ReportLatency(b, "alerts-", alat)
		})
	}
}

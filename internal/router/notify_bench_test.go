package router_test

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

var benchSeq = regexp.MustCompile(`seq=(\d+)`)

// BenchmarkEventToSlack is the whole router: events published to EVENTS at
// a fixed rate, each firing rule pipeline-test (one alert per event), the
// alert stored in ALERTS, taken by the lifecycle (zero group_wait), and
// posted by the Slack receiver to a fake Slack over loopback HTTP.
// p50/p99 are from the event's publish to the fake receiving the request;
// js-p50/js-p99 are the JetStream transport alone (publish → durable
// consumer, explicit ack) at the same rate on the same server, measured
// first in the same run. Run with -benchtime Nx (N events).
func BenchmarkEventToSlack(b *testing.B) {
	for _, rate := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			s := bustest.Server(b)
			conn := bustest.Connect(b, s)
			js := benchTransport(b, conn.JS, rate, b.N)

			fake := slacktest.New(b, "xoxb-bench")
			sent := make([]atomic.Int64, b.N)
			var mu sync.Mutex
			lat := make([]time.Duration, 0, b.N)
			done := make(chan struct{})
			fake.OnPost = func(p slacktest.Post) {
				raw, _ := json.Marshal(p.Blocks)
				var got []time.Duration
				for _, m := range benchSeq.FindAllSubmatch(raw, -1) {
					i, _ := strconv.Atoi(string(m[1]))
					if i < len(sent) {
						if t := sent[i].Swap(0); t != 0 {
							got = append(got, p.At.Sub(time.Unix(0, t)))
						}
					}
				}
				mu.Lock()
				defer mu.Unlock()
				lat = append(lat, got...)
				if len(lat) == b.N {
					close(done)
				}
			}
			hs := httptest.NewServer(fake)
			defer hs.Close()
			dir := rulesDir(b)
			if err := os.WriteFile(filepath.Join(dir, "routing.yaml"), fmt.Appendf(nil, benchRouting, hs.URL+"/api/"), 0o644); err != nil {
				b.Fatal(err)
			}
			r, err := router.Start(context.Background(), router.Options{
				NATS: bus.Options{URL: s.ClientURL()}, RulesDir: dir, HTTPAddr: "127.0.0.1:0", Console: &bustest.Buffer{},
				StateDir: b.TempDir(), Getenv: func(string) string { return "xoxb-bench" },
			}, bustest.Logger(b))
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
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
			b.ResetTimer()
			benchPace(rate, b.N, func(i int) {
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
			b.ReportMetric(0, "ns/op")
			benchReport(b, "", lat)
			benchReport(b, "js-", js)
			benchReport(b, "alerts-", alat)
		})
	}
}

func benchReport(b *testing.B, prefix string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.5), prefix+"p50-µs")
	b.ReportMetric(q(0.99), prefix+"p99-µs")
}

func benchPace(rate, n int, f func(i int)) {
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		f(i)
	}
}

func benchTransport(b *testing.B, js jetstream.JetStream, rate, n int) []time.Duration {
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "BENCH", jetstream.ConsumerConfig{Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	done := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		d := time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(m.Data()))))
		_ = m.Ack()
		mu.Lock()
		defer mu.Unlock()
		if lat = append(lat, d); len(lat) == n {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()
	benchPace(rate, n, func(int) {
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], uint64(time.Now().UnixNano()))
		if _, err := js.PublishAsync("bench.x", buf[:]); err != nil {
			b.Error(err)
		}
	})
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatal("transport: not all messages consumed")
	}
	return lat
}

package router_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/notify/slack/slacktest"
	"github.com/aftershock/aftershock/internal/router"
)

// packWithRouting copies the shipped rule pack (rules/, without its
// routing and tests) to a temp dir with routing that sends every alert to
// the fake Slack at url at once.
func packWithRouting(tb testing.TB, url string) string {
	tb.Helper()
	dir := tb.TempDir()
	files, err := filepath.Glob(filepath.Join(packDir(tb), "*.yaml"))
	if err != nil {
		tb.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.yaml") || filepath.Base(f) == "routing.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		writeFile(tb, filepath.Join(dir, filepath.Base(f)), string(b))
	}
	writeFile(tb, filepath.Join(dir, "routing.yaml"), fmt.Sprintf(benchRouting, url))
	return dir
}

// lagWatch polls consumer (on EVENTS) every 100 ms until stop and returns
// the largest backlog it saw (messages stored and not yet acked).
func lagWatch(js jetstream.JetStream, consumer string, stop <-chan struct{}) func() uint64 {
	return streamLagWatch(js, bus.StreamEvents, consumer, stop)
}

// streamLagWatch is lagWatch on any stream.
func streamLagWatch(js jetstream.JetStream, stream, consumer string, stop <-chan struct{}) func() uint64 {
	var most atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			cons, err := js.Consumer(context.Background(), stream, consumer)
			if err != nil {
				continue
			}
			if info, err := cons.Info(context.Background()); err == nil {
				lag := info.NumPending + uint64(max(info.NumAckPending, 0))
				if lag > most.Load() {
					most.Store(lag)
				}
			}
		}
	}()
	return func() uint64 { <-done; return most.Load() }
}

// background publishes the fleet's routine events (heartbeats of 500 nodes
// in 5 clusters, one in ten a DNS probe summary: evaluated by the pack,
// raising nothing) at rate per second until stop, on a connection of its
// own; the function returned says how many per second it published.
func background(tb testing.TB, s interface{ ClientURL() string }, rate int, stop <-chan struct{}) func() float64 {
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		tb.Fatal(err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(20000))
	if err != nil {
		tb.Fatal(err)
	}
	var reached float64
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer nc.Close()
		start := time.Now()
		interval := time.Second / time.Duration(rate)
		for i := 0; ; i++ {
			select {
			case <-stop:
				<-js.PublishAsyncComplete()
				reached = float64(i) / time.Since(start).Seconds()
				return
			default:
			}
			if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
				time.Sleep(d)
			}
			node := fmt.Sprintf("node-%03d", i%500)
			typ, data := event.TypeHeartbeat, `{"boot_id":"281c2a66-2bb2-4274-b979-e1f50cc56fd0","uptime_seconds":86400.5,"interval_seconds":10,"collector_version":"bench"}`
			if i%10 == 7 {
				typ, data = event.TypeDNSProbe, `{"interval_seconds":60,"servers":[{"server":"10.96.0.10","transport":"udp","ok":60,"failed":0,"p50_ms":0.4,"p99_ms":2.1}]}`
			}
			ev := &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("01BACKGROUND%014d", i), Source: "aftershock/collector/" + node,
				Type: typ, Time: time.Now(), Subject: node, Cluster: fmt.Sprintf("c%02d", i%5), Node: node, Data: []byte(data)}
			b, err := ev.Encode()
			if err != nil {
				tb.Error(err)
				return
			}
			if _, err := js.PublishMsgAsync(&nats.Msg{Subject: ev.NATSSubject(false), Data: b}); err != nil {
				tb.Error(err)
				return
			}
		}
	}()
	return func() float64 { <-done; return reached }
}

// BenchmarkDecisiveEvent is the page during an incident: the shipped pack
// evaluates 10 000 routine events per second (heartbeats, DNS probe
// summaries) while decisive events (each raising a page through the
// pack's pipeline-test rule, 50 per second) are published; p50/p99 are from
// a decisive event's publish to the fake Slack receiving its page. Run
// with -benchtime Nx (N decisive events; N/50 seconds of background).
// bg-rate is the background rate reached, lag-max the largest backlog of
// the router's consumer.
func BenchmarkDecisiveEvent(b *testing.B) {
	const bgRate, rate = 10000, 50
	deployedGC(b)
	s := bustest.BenchServer(b)
	conn := bustest.Connect(b, s)
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
	hs := httptest.NewServer(fake)
	defer hs.Close()
	r, err := router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: s.ClientURL()}, RulesDir: packWithRouting(b, hs.URL+"/api/"), HTTPAddr: "127.0.0.1:0",
		Console: &bustest.Buffer{}, StateDir: b.TempDir(), NoRulesWatch: true, Getenv: func(string) string { return "xoxb-bench" },
	}, bustest.Logger(b))
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()

	stop := make(chan struct{})
	published := background(b, s, bgRate, stop)
	lagMax := lagWatch(conn.JS, "router", stop)
	time.Sleep(time.Second) // the background is flowing before the first decisive event
	heap := bustest.WatchHeap()
	b.ResetTimer()
	bustest.Pace(rate, b.N, func(i int) {
		body := testEvent(fmt.Sprintf("01JDECISIVE%015d", i), "node-crashed", "seq="+strconv.Itoa(i), time.Now())
		sent[i].Store(time.Now().UnixNano())
		if _, err := conn.JS.PublishMsgAsync(&nats.Msg{Subject: "events.dev.node-crashed.app", Data: body}); err != nil {
			b.Error(err)
		}
	})
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
		b.Fatalf("only %d of %d decisive events reached Slack", len(lat), b.N)
	}
	b.StopTimer()
	close(stop)
	heap.Report(b, b.N)
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(published(), "bg-rate")
	b.ReportMetric(float64(lagMax()), "lag-max")
	mu.Lock()
	defer mu.Unlock()
	bustest.ReportLatency(b, "", lat)
	b.ReportMetric(float64(maxDuration(lat).Microseconds()), "max-µs")
}

func maxDuration(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

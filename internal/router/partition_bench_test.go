package router_test

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/router"
)

// publishFleet publishes n events of a fleet of clusters (heartbeats, DNS
// probe summaries and timeouts) as fast as JetStream takes
// them, and returns how long that took.
func publishFleet(tb testing.TB, js jetstream.JetStream, n, clusters, from int) time.Duration {
	tb.Helper()
	begin := time.Now()
	start := begin.Add(-5 * time.Minute)
	for i := from; i < from+n; i++ {
		node := fmt.Sprintf("node-%03d", i%500)
		cluster := fmt.Sprintf("c%02d", i%clusters)
		at := start.Add(time.Duration(i-from) * 4 * time.Minute / time.Duration(n))
		typ, data := event.TypeHeartbeat, `{"boot_id":"281c2a66-2bb2-4274-b979-e1f50cc56fd0","uptime_seconds":86400.5,"interval_seconds":10,"collector_version":"bench"}`
		switch i % 10 {
		case 7:
			typ, data = event.TypeDNSProbe, `{"interval_seconds":60,"servers":[{"server":"10.96.0.10","transport":"udp","ok":60,"failed":0,"p50_ms":0.4,"p99_ms":2.1}]}`
		case 9:
			typ, data = event.TypeDNSTimeout, fmt.Sprintf(`{"server":"10.96.0.10","name":"kubernetes.default","transport":"udp","timeout_ms":2000,"count":1,"first":%q,"last":%q}`, at.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
		}
		ev := &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("01PBENCH%018d", i), Source: "aftershock/collector/" + node,
			Type: typ, Time: at, Subject: node, Cluster: cluster, Node: node, Data: []byte(data)}
		b, err := ev.Encode()
		if err != nil {
			tb.Fatal(err)
		}
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: ev.NATSSubject(false), Data: b}, jetstream.WithMsgID(ev.ID)); err != nil {
			tb.Fatal(err)
		}
		if i%2000 == 1999 {
			<-js.PublishAsyncComplete()
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		tb.Fatal("publishing timed out")
	}
	return time.Since(begin)
}

// BenchmarkPartitionedRouters: events of 16 clusters on one in-process
// server, evaluated by one router on the shared consumer, and by one and
// two routers dividing 8 partitions. "live": n events published while the
// routers run, timed from the first publish until every event is evaluated
// and acked (bounded by the publishing rate when the routers keep up).
// "backlog": the routers stop, n more events are stored, the routers start
// again; timed from the start until every event is evaluated (windows
// rebuilt from the first n, then the backlog). Everything (server, routers,
// publisher) shares this machine's cores, so it shows the cost of the
// partitioned path more than what a second machine would add. Run with
// -benchtime=1x.
func BenchmarkPartitionedRouters(b *testing.B) {
	const n, clusters, partitions = 50_000, 16, 8
	for _, tc := range []struct {
		name       string
		routers    int
		partitions int
	}{
		{"shared-consumer/routers=1", 1, 0},
		{"partitions=8/routers=1", 1, partitions},
		{"partitions=8/routers=2", 2, partitions},
	} {
		b.Run(tc.name, func(b *testing.B) {
			for range b.N {
				s := bustest.Server(b)
				start := func() []*router.Router {
					rs := make([]*router.Router, tc.routers)
					var wg sync.WaitGroup
					for i := range rs {
						wg.Go(func() {
							r, err := router.Start(context.Background(), router.Options{
								NATS: bus.Options{URL: s.ClientURL()}, RulesDir: benchRules(b), HTTPAddr: "127.0.0.1:0",
								Console: &bustest.Buffer{}, StateDir: b.TempDir(), NoRulesWatch: true,
								Partitions: tc.partitions, RouterID: fmt.Sprintf("r%d", i), MemberTTL: 3 * time.Second,
							}, bustest.Logger(b))
							if err != nil {
								b.Error(err)
								return
							}
							rs[i] = r
						})
					}
					wg.Wait()
					if b.Failed() {
						b.FailNow()
					}
					return rs
				}
				pc := bustest.Connect(b, s)
				js := pc.JS
				ctx := context.Background()
				evaluated := func(total uint64) func() bool {
					return func() bool {
						if tc.partitions == 0 {
							c, err := js.Consumer(ctx, bus.StreamEvents, "router")
							if err != nil {
								return false
							}
							info, err := c.Info(ctx)
							return err == nil && info.Delivered.Stream == total && info.NumAckPending == 0
						}
						return drained(ctx, js, tc.partitions, total)
					}
				}

				rs := start()
				if tc.partitions > 0 {
					lanesSplit(b, tc.partitions+1+benchFleet, rs...) // + drills and the shipped pack's fleet lane
				}
				begin := time.Now()
				pub := publishFleet(b, js, n, clusters, 0)
				waitFor(b, 5*time.Minute, "every event evaluated", evaluated(n))
				b.ReportMetric(float64(n)/time.Since(begin).Seconds(), "live-events/s")
				b.ReportMetric(float64(n)/pub.Seconds(), "published/s")
				for _, r := range rs {
					r.Close()
				}

				publishFleet(b, js, n, clusters, n)
				if tc.partitions > 0 {
					waitFor(b, 5*time.Minute, "every event sourced", func() bool {
						st, err := js.Stream(ctx, bus.StreamPartitioned)
						return err == nil && st.CachedInfo().State.Msgs == 2*n
					})
				}
				begin = time.Now()
				rs = start()
				waitFor(b, 5*time.Minute, "the backlog evaluated", evaluated(2*n))
				b.ReportMetric(float64(n)/time.Since(begin).Seconds(), "backlog-events/s")
				for _, r := range rs {
					r.Close()
				}
			}
		})
	}
}

var benchFleet = 1

// benchRules is the shipped pack, or $BENCH_RULES (e.g. without its fleet
// rule, to see what the fleet lane costs).
func benchRules(tb testing.TB) string {
	if d := os.Getenv("BENCH_RULES"); d != "" {
		benchFleet = 0
		return d
	}
	return packDir(tb)
}

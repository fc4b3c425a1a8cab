package router_test

import (
	"context"
	"fmt"
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
)

// stormRouting groups as the shipped routing does (one message per rule
// and cluster, updated as alerts join), not one message per alert; the
// group's interval is the shipped one (5m), or 1s to make every second
// tell the whole group again.
const stormRouting = `route:
  receiver: oncall
  group_by: [rule, cluster]
  group_wait: 0s
  group_interval: %s
receivers:
  - name: oncall
    slack:
      token: {env: BENCH_SLACK_TOKEN}
      channel: "#bench"
      api_url: %s
`

// BenchmarkAlertStorm is an incident's alert storm: events at rate/s, each
// raising its own alert (rule pipeline-test), routed as the shipped pack
// routes (grouped by rule and cluster), so Slack gets a message and its
// updates rather than one post per alert (Slack takes about one message
// per second per channel; BenchmarkEventToSlack measures the post per
// alert). What it measures is whether the router keeps up:
//   - alerts-p50/p99: event publish → its alert on ALERTS (the rules);
//   - taken-p50/p99: event publish → the lifecycle has stored the alert
//     (the ALERTS consumer's ack floor passes it; polled every 5 ms, so
//     up to 5 ms late);
//   - lag-max / alerts-lag-max: the largest backlog of the event and the
//     ALERTS consumers (growing: the router does not keep up);
//   - posts: Slack messages (posts and edits) in the run;
//   - state-writes/alert: writes to ALERT_STATE (alert records, their
//     notification histories, the group's notification logs) per alert.
//
// Run with -benchtime Nx (N events).
func BenchmarkAlertStorm(b *testing.B) {
	for _, c := range []struct {
		rate     int
		interval string
	}{{5000, "5m"}, {10000, "5m"}, {5000, "1s"}, {10000, "1s"}} {
		rate := c.rate
		b.Run(fmt.Sprintf("rate=%d/interval=%s", rate, c.interval), func(b *testing.B) {
			deployedGC(b)
			s := bustest.BenchServer(b)
			conn := bustest.Connect(b, s)
			fake := slacktest.New(b, "xoxb-bench")
			fake.Discard = true
			var posts atomic.Int64
			fake.OnPost = func(slacktest.Post) { posts.Add(1) }
			slackRouter(b, s.ClientURL(), fake, func(api string) string { return fmt.Sprintf(stormRouting, c.interval, api) })

			sent := make([]atomic.Int64, b.N)
			// order[k] is the event whose alert is ALERTS' message k+1: a
			// core subscriber sees the stream's messages in stored order,
			// and a publish retried (its ack was late) once more, which
			// the stream does not store again.
			var mu sync.Mutex
			order := make([]int, 0, b.N)
			seen := make([]bool, b.N)
			alat := make([]time.Duration, 0, b.N)
			sub, err := conn.NC.Subscribe("alerts.>", func(m *nats.Msg) {
				mm := benchSeq.FindSubmatch(m.Data)
				if mm == nil {
					return
				}
				i, _ := strconv.Atoi(string(mm[1]))
				mu.Lock()
				defer mu.Unlock()
				if seen[i] {
					return
				}
				seen[i] = true
				order = append(order, i)
				alat = append(alat, time.Since(time.Unix(0, sent[i].Load())))
			})
			if err != nil {
				b.Fatal(err)
			}
			_ = sub.SetPendingLimits(-1, -1)
			defer func() { _ = sub.Unsubscribe() }()

			stop := make(chan struct{})
			lagMax := lagWatch(conn.JS, "router", stop)
			taken := takenWatch(conn.JS, "router-notify", uint64(b.N))
			heap := bustest.WatchHeap()
			b.ResetTimer()
			bustest.Pace(rate, b.N, func(i int) {
				body := testEvent(fmt.Sprintf("01JSTORM%018d", i), "node1", "seq="+strconv.Itoa(i), time.Now())
				sent[i].Store(time.Now().UnixNano())
				if _, err := conn.JS.PublishMsgAsync(&nats.Msg{Subject: "events.dev.node1.app", Data: body}); err != nil {
					b.Error(err)
				}
			})
			at, alertsLag, err := taken(3 * time.Minute)
			b.StopTimer()
			close(stop)
			heap.Report(b, b.N)
			if err != nil {
				b.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(order) != b.N {
				b.Fatalf("%d alerts on ALERTS, want %d", len(order), b.N)
			}
			tlat := make([]time.Duration, b.N)
			for k, i := range order {
				tlat[k] = at[k].Sub(time.Unix(0, sent[i].Load()))
			}
			b.ReportMetric(0, "ns/op")
			b.ReportMetric(float64(lagMax()), "lag-max")
			b.ReportMetric(float64(alertsLag), "alerts-lag-max")
			b.ReportMetric(float64(posts.Load()), "posts")
			if st, err := conn.JS.Stream(context.Background(), "KV_"+bus.BucketState); err == nil {
				b.ReportMetric(float64(st.CachedInfo().State.LastSeq)/float64(b.N), "state-writes/alert")
			}
			b.ReportMetric(float64(maxDuration(tlat).Microseconds()), "taken-max-µs")
			bustest.ReportLatency(b, "alerts-", alat)
			bustest.ReportLatency(b, "taken-", tlat)
		})
	}
}

// takenWatch polls consumer (on ALERTS) every 5 ms until its ack floor
// reaches n; the function it returns waits for that (at most d) and gives,
// for each of ALERTS' first n messages, the first poll that saw it acked,
// and the largest backlog seen.
func takenWatch(js jetstream.JetStream, consumer string, n uint64) func(d time.Duration) ([]time.Time, uint64, error) {
	at := make([]time.Time, 0, n)
	var most uint64
	done := make(chan error, 1)
	quit := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-quit:
				done <- fmt.Errorf("%d of %d alerts taken by the lifecycle", len(at), n)
				return
			case <-t.C:
			}
			cons, err := js.Consumer(context.Background(), bus.StreamAlerts, consumer)
			if err != nil {
				continue
			}
			info, err := cons.Info(context.Background())
			if err != nil {
				continue
			}
			now := time.Now()
			for uint64(len(at)) < min(info.AckFloor.Stream, n) {
				at = append(at, now)
			}
			most = max(most, info.NumPending+uint64(max(info.NumAckPending, 0)))
			if uint64(len(at)) == n {
				done <- nil
				return
			}
		}
	}()
	return func(d time.Duration) ([]time.Time, uint64, error) {
		select {
		case err := <-done:
			return at, most, err
		case <-time.After(d):
			close(quit)
			return nil, 0, <-done
		}
	}
}

package router_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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
//     (the ALERTS consumer's ack floor passes it, seen from the acks
//     themselves: takenWatch);
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
			alertsLag := streamLagWatch(conn.JS, bus.StreamAlerts, "router-notify", stop)
			taken := takenWatch(b, conn.NC, "router-notify", b.N)
			heap := bustest.WatchHeap()
			b.ResetTimer()
			bustest.Pace(rate, b.N, func(i int) {
				body := testEvent(fmt.Sprintf("01JSTORM%018d", i), "node1", "seq="+strconv.Itoa(i), time.Now())
				sent[i].Store(time.Now().UnixNano())
				if _, err := conn.JS.PublishMsgAsync(&nats.Msg{Subject: "events.dev.node1.app", Data: body}); err != nil {
					b.Error(err)
				}
			})
			at, err := taken(3 * time.Minute)
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
			b.ReportMetric(float64(alertsLag()), "alerts-lag-max")
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

// takenWatch follows the acks of consumer (on ALERTS) as the router
// publishes them: a core subscription to the consumer's ack subjects, so
// the measured process serves no polling API calls and the times are not
// rounded to a poll. The lifecycle's consumer acks each alert explicitly
// once its state is stored. The function returned waits (at most d) until
// ALERTS' first n messages are all acked and gives, for each, when the
// consumer's ack floor passed it: the latest ack of it and of every message
// before it.
func takenWatch(tb testing.TB, nc *nats.Conn, consumer string, n int) func(d time.Duration) ([]time.Time, error) {
	tb.Helper()
	acked := make([]time.Time, n)
	var mu sync.Mutex
	left := n
	done := make(chan struct{})
	// $JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>
	sub, err := nc.Subscribe(fmt.Sprintf("$JS.ACK.%s.%s.>", bus.StreamAlerts, consumer), func(m *nats.Msg) {
		if body := string(m.Data); body != "" && body != "+ACK" {
			return // in progress, nak, term: not taken
		}
		tok := strings.Split(m.Subject, ".")
		if len(tok) != 9 {
			tb.Errorf("ack subject %q: not the form this benchmark reads", m.Subject)
			return
		}
		seq, err := strconv.Atoi(tok[5])
		if err != nil || seq < 1 || seq > n {
			return
		}
		now := time.Now()
		mu.Lock()
		defer mu.Unlock()
		if acked[seq-1].IsZero() {
			acked[seq-1] = now
			if left--; left == 0 {
				close(done)
			}
		}
	})
	if err != nil {
		tb.Fatal(err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	return func(d time.Duration) ([]time.Time, error) {
		defer func() { _ = sub.Unsubscribe() }()
		select {
		case <-done:
		case <-time.After(d):
			mu.Lock()
			defer mu.Unlock()
			return nil, fmt.Errorf("%d of %d alerts taken by the lifecycle", n-left, n)
		}
		mu.Lock()
		defer mu.Unlock()
		at := make([]time.Time, n)
		var floor time.Time
		for i, t := range acked {
			if t.After(floor) {
				floor = t
			}
			at[i] = floor
		}
		return at, nil
	}
}

package router_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/router"
)

// publishSpan stores n events of 500 nodes in 5 clusters, evenly over the
// span before now: heartbeats (60 %), DNS probe summaries, DNS and RPC
// timeouts, postures, and an unclean reboot every 5 000 events. Event ids
// start at from.
func publishSpan(tb testing.TB, js jetstream.JetStream, n, from int, span time.Duration) {
	tb.Helper()
	start := time.Now().Add(-span)
	for i := from; i < from+n; i++ {
		node := fmt.Sprintf("node-%03d", i%500)
		at := start.Add(time.Duration(float64(span) * float64(i-from) / float64(n)))
		ts := at.Format(time.RFC3339Nano)
		var typ, data string
		switch k := i % 100; {
		case i%5000 == 4999:
			typ, data = event.TypeReboot, fmt.Sprintf(`{"previous_boot_id":"281c2a66-2bb2-4274-b979-e1f50cc56fd0","boot_id":"9a1f0000-0000-0000-0000-%012d","clean":false,"cause":"panic","last_heartbeat":%q,"boot_time":%q}`, i, ts, ts)
		case k < 60:
			typ, data = event.TypeHeartbeat, `{"boot_id":"281c2a66-2bb2-4274-b979-e1f50cc56fd0","uptime_seconds":86400.5,"interval_seconds":10,"collector_version":"bench"}`
		case k < 70:
			typ, data = event.TypeDNSProbe, `{"interval_seconds":60,"servers":[{"server":"10.96.0.10","transport":"udp","ok":60,"failed":0,"p50_ms":0.4,"p99_ms":2.1}]}`
		case k < 85:
			typ, data = event.TypeDNSTimeout, fmt.Sprintf(`{"server":"10.96.0.10","name":"kubernetes.default","transport":"udp","timeout_ms":2000,"count":1,"first":%q,"last":%q}`, ts, ts)
		case k < 97:
			typ, data = "rpc.timeout", `{"service":"cart","peer":"payments","count":3}`
		default:
			typ, data = event.TypePosture, `{"boot_id":"281c2a66-2bb2-4274-b979-e1f50cc56fd0","kernel_release":"5.15.0-91-generic","os":"Ubuntu 22.04","arch":"amd64","kdump":{"ready":true},"pods":[{"namespace":"kube-system","name":"coredns-5c98db65d4-q7wzt","uid":"u1","ips":["172.16.3.66"]}]}`
		}
		ev := &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("01PSPAN%019d", i), Source: "aftershock/collector/" + node,
			Type: typ, Time: at, Subject: node, Cluster: fmt.Sprintf("c%02d", i%5), Node: node, Data: []byte(data)}
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
}

// ackAll acks every event pending on the router's consumer, as a router
// that evaluated them and was killed before its next snapshot would have.
func ackAll(tb testing.TB, js jetstream.JetStream) {
	tb.Helper()
	cons, err := js.Consumer(context.Background(), bus.StreamEvents, "router")
	if err != nil {
		tb.Fatal(err)
	}
	for {
		info, err := cons.Info(context.Background())
		if err != nil {
			tb.Fatal(err)
		}
		if info.NumPending == 0 && info.NumAckPending == 0 {
			return
		}
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			tb.Fatal(err)
		}
		for m := range batch.Messages() {
			_ = m.Ack()
		}
	}
}

// BenchmarkRestartWindows: the start of a router over a fleet's stored
// events (1M, spread over a day or over the last 15 minutes), after a
// router evaluated them and another tail events (the seconds between its
// last snapshot and its death) were acked. "snapshot": the start restores
// the window snapshot and replays the tail; "replay": no snapshot, the
// start replays every rule's horizon. Run with -benchtime=1x.
func BenchmarkRestartWindows(b *testing.B) {
	const tail = 10_000
	for _, tc := range []struct {
		name   string
		events int
		span   time.Duration
	}{{"day", 1_000_000, 24 * time.Hour}, {"storm", 1_000_000, 15 * time.Minute}} {
		for _, mode := range []string{"snapshot", "replay"} {
			b.Run(tc.name+"/"+mode, func(b *testing.B) {
				for range b.N {
					s := bustest.Server(b)
					c := bustest.Connect(b, s)
					publishSpan(b, c.JS, tc.events, 0, tc.span)
					r, _ := consumeAll(b, s, c.JS, "router")
					r.Close()
					publishSpan(b, c.JS, tail, tc.events, 10*time.Second)
					ackAll(b, c.JS)
					obs, err := c.JS.ObjectStore(context.Background(), bus.BucketWindows)
					if err != nil {
						b.Fatal(err)
					}
					info, err := obs.GetInfo(context.Background(), "router")
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(info.Size)/1e6, "snapshot-MB")
					if mode == "replay" {
						if err := obs.Delete(context.Background(), "router"); err != nil {
							b.Fatal(err)
						}
					}
					start := time.Now()
					r2, err := router.Start(context.Background(), router.Options{
						NATS: bus.Options{URL: s.ClientURL()}, RulesDir: packDir(b), HTTPAddr: "127.0.0.1:0",
						Console: &bustest.Buffer{}, StateDir: b.TempDir(), NoRulesWatch: true,
					}, bustest.Logger(b))
					if err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(time.Since(start).Seconds(), "ready-s")
					events, _ := strconv.ParseFloat(metric(b, r2, "aftershock_router_rebuild_events_total"), 64)
					secs, _ := strconv.ParseFloat(metric(b, r2, "aftershock_router_rebuild_seconds"), 64)
					b.ReportMetric(events, "rebuilt-events")
					b.ReportMetric(secs, "rebuild-s")
					r2.Close()
				}
			})
		}
	}
}

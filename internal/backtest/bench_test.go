package backtest

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/event"
)

// benchEvents is the size of the stored history (issue #7: at least 1M).
var benchEvents = 1_000_000

// fillBench stores n events shaped like live traffic: heartbeats of 2,000
// nodes, DNS and RPC timeouts, a few reboots and OOMs, each stamped with
// the wall clock when published, as live events are.
func fillBench(b *testing.B, js jetstream.JetStream, n int) {
	b.Helper()
	payloads := map[string]any{
		event.TypeHeartbeat:  event.Heartbeat{BootID: "b1", UptimeSeconds: 1000, IntervalSecs: 10},
		event.TypeDNSTimeout: event.DNSFailure{Server: "10.96.0.10", Name: "kubernetes.default", Transport: "udp", Count: 3},
		event.TypeRPCTimeout: event.RPCTimeout{Service: "pay", Peer: "10.0.0.1:443", Count: 2},
		event.TypeReboot:     event.Reboot{Clean: false, Cause: event.CauseKernelBug, BootID: "b2"},
		event.TypeKernelOOM:  event.OOM{Constraint: event.OOMMemcg, VictimComm: "java"},
	}
	for i := range n {
		typ := event.TypeHeartbeat
		switch {
		case i%100_000 == 99_999:
			typ = event.TypeReboot
		case i%10_000 == 5:
			typ = event.TypeKernelOOM
		case i%10 == 1:
			typ = event.TypeDNSTimeout
		case i%10 == 2:
			typ = event.TypeRPCTimeout
		}
		ev, err := event.New(typ, "bench", fmt.Sprintf("c%d", i%4), fmt.Sprintf("node-%04d", i%2000), time.Now(), payloads[typ])
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := ev.Encode()
		if _, err := js.PublishAsync(ev.NATSSubject(false), raw); err != nil {
			b.Fatal(err)
		}
		if i%10_000 == 9_999 {
			select {
			case <-js.PublishAsyncComplete():
			case <-time.After(time.Minute):
				b.Fatal("publish stalled")
			}
		}
	}
	<-js.PublishAsyncComplete()
}

// BenchmarkBacktest1M reads 1M stored events through an ordered consumer
// and runs a small rule set over them: events/s end to end from the store.
// Not part of the normal test run (go test -bench BenchmarkBacktest1M).
func BenchmarkBacktest1M(b *testing.B) {
	if v := os.Getenv("AFTERSHOCK_BENCH_EVENTS"); v != "" {
		benchEvents, _ = strconv.Atoi(v)
	}
	s := bustest.Server(b)
	c := bustest.Connect(b, s)
	fillBench(b, c.JS, benchEvents)
	sets := []RuleSet{compile(b, "baseline", baseline)}
	b.ResetTimer()
	for b.Loop() {
		res, err := Execute(context.Background(), c.JS, sets, Options{From: time.Now().Add(-24 * time.Hour)})
		if err != nil {
			b.Fatal(err)
		}
		if res.Events != int64(benchEvents) {
			b.Fatalf("read %d events, want %d", res.Events, benchEvents)
		}
		b.ReportMetric(float64(res.Events)/time.Duration(res.Elapsed).Seconds(), "events/s")
	}
}

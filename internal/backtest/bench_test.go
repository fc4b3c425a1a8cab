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
	"github.com/aftershock/aftershock/internal/router"
)

// benchEvents is the size of the stored history (issue #7: at least 1M);
// AFTERSHOCK_BENCH_EVENTS changes it.
func benchEvents() int {
	if n, err := strconv.Atoi(os.Getenv("AFTERSHOCK_BENCH_EVENTS")); err == nil && n > 0 {
		return n
	}
	return 1_000_000
}

// profile shapes a stored history.
type profile struct {
	name  string
	drill bool
	// filler is the type of the nine events in ten that are not timeouts.
	filler string
	// at is the event time of event i of n.
	at func(i, n int) time.Time
}

var profiles = []profile{
	// A week of a fleet's events: 2,000 nodes in 4 clusters, DNS and RPC
	// timeouts, probe summaries, a few reboots and OOMs, event times spread
	// over 7 days. JetStream stamps arrival itself, so a week is stored as
	// a drill (drill timelines run on event time alone).
	{name: "week", drill: true, filler: event.TypeDNSProbe, at: func(i, n int) time.Time {
		return time.Now().Add(-7 * 24 * time.Hour).Add(time.Duration(i) * (7 * 24 * time.Hour / time.Duration(n)))
	}},
	// The same volume as live traffic arriving now: heartbeats instead of
	// probe summaries, everything inside one rule window (a storm: 200k
	// timeouts within the minute it takes to store them).
	{name: "burst", filler: event.TypeHeartbeat, at: func(int, int) time.Time { return time.Now() }},
}

func fillBench(b *testing.B, js jetstream.JetStream, p profile, n int) {
	b.Helper()
	payloads := map[string]any{
		event.TypeHeartbeat:  event.Heartbeat{BootID: "b1", UptimeSeconds: 1000, IntervalSecs: 10},
		event.TypeDNSProbe:   event.DNSProbe{IntervalSeconds: 60, Servers: []event.DNSServerStats{{Server: "10.96.0.10:53", Transport: "udp", OK: 12}}},
		event.TypeDNSTimeout: event.DNSFailure{Server: "10.96.0.10", Name: "kubernetes.default", Transport: "udp", Count: 3},
		event.TypeRPCTimeout: event.RPCTimeout{Service: "pay", Peer: "10.0.0.1:443", Count: 2},
		event.TypeReboot:     event.Reboot{Clean: false, Cause: event.CauseKernelBug, BootID: "b2", PreviousKernel: "5.15.0-88-generic"},
		event.TypeKernelOOM:  event.OOM{Constraint: event.OOMMemcg, VictimComm: "java"},
	}
	for i := range n {
		typ := p.filler
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
		ev, err := event.New(typ, "bench", fmt.Sprintf("c%d", i%4), fmt.Sprintf("node-%04d", i%2000), p.at(i, n), payloads[typ])
		if err != nil {
			b.Fatal(err)
		}
		raw, _ := ev.Encode()
		if _, err := js.PublishAsync(ev.NATSSubject(p.drill), raw); err != nil {
			b.Fatal(err)
		}
		if i%2_000 == 1_999 { // stay under the default 4,000 async publishes in flight
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
// and runs the repository's rule pack over them: events/s end to end from
// the store, the mean over iterations (the first reads a cold store).
// Not part of the normal test run: task bench:backtest.
func BenchmarkBacktest1M(b *testing.B) {
	set, err := router.LoadRules("../../rules", nil)
	if err != nil {
		b.Fatal(err)
	}
	n := benchEvents()
	for _, p := range profiles {
		b.Run(p.name, func(b *testing.B) {
			c := bustest.Connect(b, bustest.Server(b))
			fillBench(b, c.JS, p, n)
			subjects := []string{SubjectsLive}
			if p.drill {
				subjects = []string{SubjectsDrill}
			}
			var events int64
			var took time.Duration
			for b.Loop() {
				res, err := Execute(context.Background(), c.JS, []RuleSet{{Name: "rules", Set: set}},
					Options{From: time.Now().Add(-24 * time.Hour), Subjects: subjects})
				if err != nil {
					b.Fatal(err)
				}
				if res.Events != int64(n) {
					b.Fatalf("read %d events, want %d", res.Events, n)
				}
				events += res.Events
				took += time.Duration(res.Elapsed)
			}
			b.ReportMetric(float64(events)/took.Seconds(), "events/s")
		})
	}
}

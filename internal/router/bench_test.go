package router_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/router"
)

// fillEvents stores n events of a busy fleet of 5 clusters in EVENTS
// (publishFleet): heartbeats of 500 nodes, DNS probe summaries and some DNS
// timeouts, with event times in the last minutes (inside the pack's windows).
func fillEvents(tb testing.TB, js jetstream.JetStream, n int) {
	tb.Helper()
	publishFleet(tb, js, n, 5, 0)
}

func packDir(tb testing.TB) string {
	tb.Helper()
	dir, err := filepath.Abs("../../rules")
	if err != nil {
		tb.Fatal(err)
	}
	return dir
}

// consumeAll starts a router with durable consumer name and waits until it
// has acked every stored event; it returns the router and the time from
// its first delivery to its last ack (start-up excluded).
func consumeAll(tb testing.TB, s *server.Server, js jetstream.JetStream, consumer string) (*router.Router, time.Duration) {
	tb.Helper()
	var start time.Time
	r, err := router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: s.ClientURL()}, RulesDir: packDir(tb), HTTPAddr: "127.0.0.1:0",
		Console: &bustest.Buffer{}, StateDir: tb.TempDir(), Consumer: consumer, NoRulesWatch: true,
	}, bustest.Logger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	for {
		cons, err := js.Consumer(context.Background(), bus.StreamEvents, consumer)
		if err == nil {
			info, err := cons.Info(context.Background())
			if err == nil && start.IsZero() && info.Delivered.Stream > 0 {
				start = time.Now()
			}
			if err == nil && info.NumPending == 0 && info.NumAckPending == 0 {
				return r, time.Since(start)
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// natsBench runs `nats bench js consume --acks explicit` on EVENTS and
// returns its messages per second.
func natsBench(tb testing.TB, s *server.Server, n int) float64 {
	tb.Helper()
	csvPath := filepath.Join(tb.TempDir(), "bench.csv")
	cmd := exec.Command(bustest.NATSCLI(tb), "--server", s.ClientURL(), "bench", "js", "consume",
		"--stream", bus.StreamEvents, "--consumer", "nats-bench", "--msgs", strconv.Itoa(n), "--acks", "explicit",
		"--no-progress", "--csv", csvPath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("nats bench: %v\n%s", err, out)
	}
	b, err := os.ReadFile(csvPath)
	if err != nil {
		tb.Fatalf("nats bench csv: %v\n%s", err, out)
	}
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil || len(rows) < 2 {
		tb.Fatalf("nats bench csv %q: %v", b, err)
	}
	col := -1
	for i, h := range rows[0] {
		if h == "MsgsPerSec" || h == "Msgs/s" || h == "MsgPerSec" {
			col = i
		}
	}
	if col < 0 {
		tb.Fatalf("no msgs/s column in %v", rows[0])
	}
	v, err := strconv.ParseFloat(rows[1][col], 64)
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// BenchmarkEndToEnd compares the router consuming EVENTS (decode, rules of
// the shipped pack, explicit ack) with `nats bench js consume --acks
// explicit` reading the same stored events on the same server in the same
// run. Run with -benchtime=1x: each iteration stores 100k events.
func BenchmarkEndToEnd(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		s := bustest.Server(b)
		c := bustest.Connect(b, s)
		fillEvents(b, c.JS, n)
		cli := natsBench(b, s, n)
		r, took := consumeAll(b, s, c.JS, fmt.Sprintf("router-bench-%d", i))
		r.Close()
		rate := float64(n) / took.Seconds()
		b.ReportMetric(rate, "router-events/s")
		b.ReportMetric(cli, "natsbench-msgs/s")
		b.ReportMetric(100*rate/cli, "%-of-natsbench")
	}
}

// BenchmarkRebuild: a router consumes 100k events, stops, and the next start
// rebuilds its windows by reading them back; reports the rebuild's rate.
func BenchmarkRebuild(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		s := bustest.Server(b)
		c := bustest.Connect(b, s)
		fillEvents(b, c.JS, n)
		r, _ := consumeAll(b, s, c.JS, "router")
		r.Close()
		start := time.Now()
		r2, err := router.Start(context.Background(), router.Options{
			NATS: bus.Options{URL: s.ClientURL()}, RulesDir: packDir(b), HTTPAddr: "127.0.0.1:0",
			Console: &bustest.Buffer{}, StateDir: b.TempDir(), NoRulesWatch: true,
		}, bustest.Logger(b))
		if err != nil {
			b.Fatal(err)
		}
		took := time.Since(start)
		events, _ := strconv.ParseFloat(metric(b, r2, "aftershock_router_rebuild_events_total"), 64)
		secs, _ := strconv.ParseFloat(metric(b, r2, "aftershock_router_rebuild_seconds"), 64)
		r2.Close()
		if events == 0 {
			b.Fatal("nothing rebuilt")
		}
		b.ReportMetric(events, "rebuilt-events")
		b.ReportMetric(events/secs, "rebuild-events/s")
		b.ReportMetric(took.Seconds(), "start-s")
	}
}

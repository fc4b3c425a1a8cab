package bustest

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bintest"
	"github.com/aftershock/aftershock/internal/childproc"
)

// URLer is a NATS server a test connects to: the embedded one or a process.
type URLer interface{ ClientURL() string }

// Process is a nats-server running as a process of its own, as deployed
// in Kubernetes: its allocations and collections are not the test's.
type Process struct{ url string }

// ClientURL is the server's client URL.
func (p *Process) ClientURL() string { return p.url }

// ProcessServer builds the nats-server pinned in go.mod, runs it with
// JetStream and file storage in a temp dir on a free loopback port, waits
// until it accepts connections, and stops it at cleanup.
func ProcessServer(tb testing.TB) *Process {
	tb.Helper()
	bin := bintest.Build(tb, "github.com/nats-io/nats-server/v2")
	port, err := childproc.FreePort()
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	p, err := childproc.NATSServer(context.Background(), dir, bin, filepath.Join(dir, "store"), port)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { p.Stop(10 * time.Second) })
	return &Process{url: fmt.Sprintf("nats://127.0.0.1:%d", port)}
}

// BenchServer is the server a latency benchmark runs against: embedded in
// the benchmark's process, or with AFTERSHOCK_BENCH_NATS=process a
// nats-server process of its own, so the router's garbage collector works
// on the router's heap alone, as in a deployment with NATS beside it.
func BenchServer(tb testing.TB) URLer {
	tb.Helper()
	switch v := os.Getenv("AFTERSHOCK_BENCH_NATS"); v {
	case "", "embedded":
		return Server(tb)
	case "process":
		return ProcessServer(tb)
	default:
		tb.Fatalf("AFTERSHOCK_BENCH_NATS=%q: want embedded or process", v)
		return nil
	}
}

// Package bustest runs real NATS parts for tests: an in-process nats-server
// with JetStream on a random port with file storage in a temp dir, and the
// real `nats` CLI built from the version pinned in go.mod.
package bustest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/aftershock/aftershock/internal/bintest"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/embedded"
)

// Server starts an embedded JetStream server for the test and stops it at
// cleanup.
func Server(tb testing.TB) *server.Server {
	tb.Helper()
	return ServerIn(tb, tb.TempDir())
}

// ServerIn starts a server storing in dir, so a test can restart it on the
// same store.
func ServerIn(tb testing.TB, dir string) *server.Server {
	tb.Helper()
	s, err := embedded.Start(bus.EmbeddedOptions{StateDir: dir, Port: -1}, nil)
	if err != nil {
		tb.Fatalf("start nats: %v", err)
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Connect dials s and provisions the default topology.
func Connect(tb testing.TB, s URLer) *bus.Conn {
	tb.Helper()
	c, err := bus.Connect(context.Background(), bus.Options{URL: s.ClientURL(), Name: tb.Name()}, Logger(tb))
	if err != nil {
		tb.Fatalf("connect: %v", err)
	}
	tb.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := bus.Provision(ctx, c.JS, bus.DefaultTopology()); err != nil {
		tb.Fatalf("provision: %v", err)
	}
	return c
}

// Logger writes to the test log only when -v is set, so failures stay
// readable.
func Logger(tb testing.TB) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return slog.New(slog.NewTextHandler(tWriter{tb}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ tb testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.tb.Log(string(p))
	return len(p), nil
}

// NATSCLI returns the path of the `nats` CLI pinned as a tool in go.mod,
// built once per test binary (the Go build cache makes later builds cheap).
func NATSCLI(tb testing.TB) string {
	tb.Helper()
	return bintest.Build(tb, "github.com/nats-io/natscli/nats")
}

// Eventually polls cond until it holds or the deadline passes. Deadlines are
// generous: these are correctness waits, not timing assertions.
func Eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Cluster starts n JetStream servers routed to each other on free loopback
// ports (nats-server's own cluster tests do the same), waits until they
// form a JetStream cluster with a meta leader, and stops them at cleanup.
func Cluster(tb testing.TB, n int) []*server.Server {
	tb.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		ports[i] = l.Addr().(*net.TCPAddr).Port
		l.Close()
	}
	var routes []*url.URL
	for _, p := range ports {
		routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	servers := make([]*server.Server, n)
	for i := range servers {
		i := i
		s, err := embedded.Start(bus.EmbeddedOptions{
			StateDir:   tb.TempDir(),
			Port:       -1,
			ServerName: fmt.Sprintf("s%d", i),
		}, nil, func(o *server.Options) {
			o.Cluster = server.ClusterOpts{Name: "test", Host: "127.0.0.1", Port: ports[i]}
			o.Routes = routes
		})
		if err != nil {
			tb.Fatalf("start cluster server %d: %v", i, err)
		}
		servers[i] = s
		tb.Cleanup(func() {
			s.Shutdown()
			s.WaitForShutdown()
		})
	}
	// A meta leader alone is not enough: R3 placement needs every peer known
	// and current, or provisioning fails with "no suitable peers".
	Eventually(tb, "a JetStream meta leader that knows every peer", func() bool {
		leader := false
		for _, s := range servers {
			if !s.Running() || !s.JetStreamIsCurrent() || s.NumRoutes() < n-1 {
				return false
			}
			if s.JetStreamIsLeader() {
				leader = len(s.JetStreamClusterPeers()) == n
			}
		}
		return leader
	})
	return servers
}

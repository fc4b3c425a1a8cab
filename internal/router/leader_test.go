package router_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/bus/embedded"
	"github.com/aftershock/aftershock/internal/lease"
	"github.com/aftershock/aftershock/internal/router"
)

func startRouterID(tb testing.TB, s *server.Server, rules, id string, console *bustest.Buffer) *router.Router {
	tb.Helper()
	r, err := router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: s.ClientURL()}, RulesDir: rules, HTTPAddr: "127.0.0.1:0",
		Console: console, StateDir: tb.TempDir(), RouterID: id, MemberTTL: 3 * time.Second,
	}, bustest.Logger(tb))
	if err != nil {
		tb.Fatalf("start router %s: %v", id, err)
	}
	tb.Cleanup(r.Close)
	return r
}

// TestOneNotifierAmongRouters runs two routers on one NATS: every alert is
// delivered by exactly one of them (the lifecycle lives in one process's
// memory), and when that one stops, the other takes delivery over.
func TestOneNotifierAmongRouters(t *testing.T) {
	s := bustest.Server(t)
	rules := rulesDir(t)
	ca, cb := &bustest.Buffer{}, &bustest.Buffer{}
	a := startRouterID(t, s, rules, "router-a", ca)
	b := startRouterID(t, s, rules, "router-b", cb)
	// a took the lease at its start, but it leads (and says so) once its
	// lifecycle is restored and consuming, in the background.
	bustest.Eventually(t, "a to lead", func() bool {
		return metric(t, a, "aftershock_router_notifier_leader") == "1"
	})
	if metric(t, b, "aftershock_router_notifier_leader") != "0" {
		t.Fatalf("leader gauges a=%s b=%s, want 1 and 0", metric(t, a, "aftershock_router_notifier_leader"), metric(t, b, "aftershock_router_notifier_leader"))
	}
	pub := bustest.Connect(t, s)
	for i, msg := range []string{"first", "second", "third"} {
		publish(t, pub.JS, "events.dev.n1.app", "", testEvent("01JLEADER00000000000000000"+string(rune('1'+i)), "n1", msg, time.Now()))
	}
	bustest.Eventually(t, "three alerts delivered", func() bool {
		all := ca.String() + cb.String()
		return strings.Contains(all, "first") && strings.Contains(all, "second") && strings.Contains(all, "third")
	})
	if strings.Contains(cb.String(), "=== ") {
		t.Fatalf("the standby delivered:\n%s", cb.String())
	}
	if n := strings.Count(ca.String(), "=== "); n != 3 {
		t.Fatalf("leader printed %d alerts, want 3:\n%s", n, ca.String())
	}
	toldAndLogged(t, pub.JS, 3) // else b owes them again

	a.Close() // releases the lease: b takes over without waiting for the TTL
	bustest.Eventually(t, "b takes over delivery", func() bool {
		return metric(t, b, "aftershock_router_notifier_leader") == "1"
	})
	publish(t, pub.JS, "events.dev.n1.app", "", testEvent("01JLEADER000000000000000009", "n1", "after hand-over", time.Now()))
	bustest.Eventually(t, "b delivers after the hand-over", func() bool {
		return strings.Contains(cb.String(), "after hand-over")
	})
	if strings.Contains(cb.String(), "first") {
		t.Fatal("b repeated an alert a had delivered")
	}
}

// TestLostLeaseFailsTheRouter: a leader whose lease another router took
// (a partition longer than the TTL) must stop delivering: the router fails
// so its supervisor restarts it as a standby.
func TestLostLeaseFailsTheRouter(t *testing.T) {
	s := bustest.Server(t)
	a := startRouterID(t, s, rulesDir(t), "router-a", &bustest.Buffer{})
	c := bustest.Connect(t, s)
	kv, err := c.JS.KeyValue(context.Background(), bus.BucketRouters)
	if err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(context.Background(), router.NotifierLease); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(context.Background(), router.NotifierLease, []byte("router-z/1")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-a.Failed():
		if !errors.Is(err, lease.ErrLost) {
			t.Fatalf("failed with %v, want ErrLost", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("router kept delivering after losing the lease")
	}
}

// TestNATSOutageKeepsTheNotifier: NATS away for longer than the lease's
// TTL, with no other router: when it is back the router still delivers,
// instead of exiting with "lease lost" (issue #16).
func TestNATSOutageKeepsTheNotifier(t *testing.T) {
	dir := t.TempDir()
	s, err := embedded.Start(bus.EmbeddedOptions{StateDir: dir, Port: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	port := s.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	console := &bustest.Buffer{}
	a := startRouterID(t, s, rulesDir(t), "router-a", console) // MemberTTL 3s

	s.Shutdown()
	s.WaitForShutdown()
	time.Sleep(4 * time.Second) // longer than the TTL: the lease key expires
	if s, err = embedded.Start(bus.EmbeddedOptions{StateDir: dir, Port: port}, nil); err != nil {
		t.Fatalf("restart nats: %v", err)
	}
	pub := bustest.Connect(t, s)
	publish(t, pub.JS, "events.dev.n1.app", "", testEvent("01JOUTAGE000000000000000001", "n1", "after the outage", time.Now()))
	bustest.Eventually(t, "delivery after the outage", func() bool {
		return strings.Contains(console.String(), "after the outage")
	})
	kv, err := pub.JS.KeyValue(context.Background(), bus.BucketRouters)
	if err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "the lease held by router-a", func() bool {
		e, err := kv.Get(context.Background(), router.NotifierLease)
		return err == nil && strings.HasPrefix(string(e.Value()), "router-a/")
	})
	select {
	case err := <-a.Failed():
		t.Fatalf("the router gave up after the outage: %v", err)
	case <-time.After(4 * time.Second): // past another renewal or two
	}
	if metric(t, a, "aftershock_router_notifier_leader") != "1" {
		t.Fatal("not the notifier after the outage")
	}
}

package lease_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/bus/embedded"
	"github.com/aftershock/aftershock/internal/lease"
)

func bucket(t *testing.T, ttl time.Duration) jetstream.KeyValue {
	t.Helper()
	c := bustest.Connect(t, bustest.Server(t))
	kv, err := c.JS.CreateKeyValue(context.Background(), jetstream.KeyValueConfig{Bucket: "LEASES", TTL: ttl, History: 1})
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func TestOneHolderAtATime(t *testing.T) {
	kv := bucket(t, 3*time.Second)
	ctx := context.Background()
	a, err := lease.TryAcquire(ctx, kv, lease.Options{Key: "notifier", Holder: "router-a/1", TTL: 3 * time.Second})
	if err != nil || a == nil {
		t.Fatalf("first holder: %v, %v", a, err)
	}
	b, err := lease.TryAcquire(ctx, kv, lease.Options{Key: "notifier", Holder: "router-b/1", TTL: 3 * time.Second})
	if err != nil || b != nil {
		t.Fatalf("second holder got the lease while the first holds it: %v, %v", b, err)
	}

	// a keeps it while b waits; when a stops, b has it at once.
	kctx, stop := context.WithCancel(ctx)
	kept := make(chan error, 1)
	go func() { kept <- a.Keep(kctx) }()
	got := make(chan *lease.Lease, 1)
	go func() {
		l, _ := lease.Acquire(ctx, kv, lease.Options{Key: "notifier", Holder: "router-b/1", TTL: 3 * time.Second})
		got <- l
	}()
	select {
	case <-got:
		t.Fatal("b acquired while a kept renewing")
	case <-time.After(4 * time.Second): // longer than the TTL: renewals worked
	}
	stop()
	if err := <-kept; err != nil {
		t.Fatalf("Keep after release: %v", err)
	}
	if l := <-got; l == nil {
		t.Fatal("b did not get the released lease")
	}
}

func TestDeadHolderExpires(t *testing.T) {
	kv := bucket(t, time.Second)
	ctx := context.Background()
	if a, _ := lease.TryAcquire(ctx, kv, lease.Options{Key: "n", Holder: "a/1", TTL: time.Second}); a == nil {
		t.Fatal("no lease")
	}
	// a dies without releasing: b gets it once the bucket's TTL removes the key.
	b, err := lease.Acquire(ctx, kv, lease.Options{Key: "n", Holder: "b/1", TTL: time.Second})
	if err != nil || b == nil {
		t.Fatalf("b after a died: %v, %v", b, err)
	}
}

func TestSameOwnerTakesOverAtOnce(t *testing.T) {
	kv := bucket(t, time.Hour)
	ctx := context.Background()
	old, _ := lease.TryAcquire(ctx, kv, lease.Options{Key: "n", Holder: "router-a/111", TTL: time.Hour})
	if old == nil {
		t.Fatal("no lease")
	}
	// router-a restarted (new process, same router id): no wait for the TTL.
	again, err := lease.TryAcquire(ctx, kv, lease.Options{Key: "n", Holder: "router-a/222", TTL: time.Hour})
	if err != nil || again == nil {
		t.Fatalf("restarted owner: %v, %v", again, err)
	}
}

// TestStolenLeaseIsLost: a holder whose key was taken by another owner
// (say, after a network partition longer than the TTL) stops leading.
func TestStolenLeaseIsLost(t *testing.T) {
	kv := bucket(t, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := lease.TryAcquire(ctx, kv, lease.Options{Key: "k", Holder: "x/1", TTL: 600 * time.Millisecond})
	if err != nil || l == nil {
		t.Fatalf("no lease: %v", err)
	}
	if err := kv.Purge(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Create(ctx, "k", []byte("y/1")); err != nil {
		t.Fatal(err)
	}
	if err := l.Keep(ctx); !errors.Is(err, lease.ErrLost) {
		t.Fatalf("Keep of a stolen lease: %v, want ErrLost", err)
	}
}

// TestOutageLongerThanTTL: NATS goes away for three TTLs, so the key
// expires; nobody else takes it, and when NATS is back the holder has it
// again instead of giving up (issue #16: a router exited after an 8 s
// outage with no other router around).
func TestOutageLongerThanTTL(t *testing.T) {
	dir := t.TempDir()
	srv, err := embedded.Start(bus.EmbeddedOptions{StateDir: dir, Port: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	port := srv.Addr().(*net.TCPAddr).Port
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	c, err := bus.Connect(context.Background(), bus.Options{URL: srv.ClientURL()}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const ttl = time.Second
	kv, err := c.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "LEASES", TTL: ttl, History: 1})
	if err != nil {
		t.Fatal(err)
	}
	l, err := lease.TryAcquire(ctx, kv, lease.Options{Key: "notifier", Holder: "router-a/1", TTL: ttl, Log: bustest.Logger(t)})
	if err != nil || l == nil {
		t.Fatalf("no lease: %v", err)
	}
	kctx, stop := context.WithCancel(ctx)
	kept := make(chan error, 1)
	go func() { kept <- l.Keep(kctx) }()

	srv.Shutdown()
	srv.WaitForShutdown()
	time.Sleep(3 * ttl) // the outage outlasts the TTL: the key expires with the server's clock
	srv, err = embedded.Start(bus.EmbeddedOptions{StateDir: dir, Port: port}, nil)
	if err != nil {
		t.Fatalf("restart nats: %v", err)
	}
	bustest.Eventually(t, "the lease held again by its holder", func() bool {
		e, err := kv.Get(ctx, "notifier")
		return err == nil && string(e.Value()) == "router-a/1"
	})
	// Held, and kept: a few renewals later it is still there.
	time.Sleep(2 * ttl)
	select {
	case err := <-kept:
		t.Fatalf("Keep gave up after the outage: %v", err)
	default:
	}
	// Read until held: a renewal late by a third of the TTL (a stalled
	// machine) lets the key lapse a moment before Keep takes it again.
	bustest.Eventually(t, "the lease still held after renewals", func() bool {
		e, err := kv.Get(ctx, "notifier")
		return err == nil && string(e.Value()) == "router-a/1"
	})
	stop()
	if err := <-kept; err != nil {
		t.Fatalf("Keep after release: %v", err)
	}
}

// TestRenewalAppliedButUnanswered: a renewal the server applied but whose
// answer was lost (a reconnect replays it) moves the revision on; the
// holder finds its own name there and carries on.
func TestRenewalAppliedButUnanswered(t *testing.T) {
	kv := bucket(t, time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, err := lease.TryAcquire(ctx, kv, lease.Options{Key: "k", Holder: "x/1", TTL: 600 * time.Millisecond})
	if err != nil || l == nil {
		t.Fatalf("no lease: %v", err)
	}
	kctx, stop := context.WithCancel(ctx)
	kept := make(chan error, 1)
	go func() { kept <- l.Keep(kctx) }()
	e, err := kv.Get(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	lost, err := kv.Update(ctx, "k", []byte("x/1"), e.Revision()) // the "lost" renewal
	if err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "two renewals past the unanswered one", func() bool {
		e, err := kv.Get(ctx, "k")
		return err == nil && e.Revision() >= lost+2 && string(e.Value()) == "x/1"
	})
	select {
	case err := <-kept:
		t.Fatalf("Keep gave up: %v", err)
	default:
	}
	stop()
	if err := <-kept; err != nil {
		t.Fatal(err)
	}
}

package bus_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
)

func TestProvisionIdempotentAndUpdates(t *testing.T) {
	s := bustest.Server(t)
	c, err := bus.Connect(context.Background(), bus.Options{URL: s.ClientURL()}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := context.Background()
	top := bus.DefaultTopology()

	first, err := bus.Provision(ctx, c.JS, top)
	if err != nil {
		t.Fatal(err)
	}
	for name, act := range first {
		if act != bus.Created {
			t.Errorf("first run: %s %s, want created", name, act)
		}
	}
	if len(first) != 7 {
		t.Fatalf("first run provisioned %d things, want 7: %v", len(first), first)
	}

	second, err := bus.Provision(ctx, c.JS, top)
	if err != nil {
		t.Fatal(err)
	}
	for name, act := range second {
		if act != bus.Unchanged {
			t.Errorf("second run: %s %s, want unchanged", name, act)
		}
	}

	top.EventsMaxAge = 3 * 24 * time.Hour
	third, err := bus.Provision(ctx, c.JS, top)
	if err != nil {
		t.Fatal(err)
	}
	if third[bus.StreamEvents] != bus.Updated || third[bus.StreamAlerts] != bus.Unchanged {
		t.Fatalf("after changing EVENTS max age: %v", third)
	}
	st, err := c.JS.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.CachedInfo().Config.MaxAge; got != 3*24*time.Hour {
		t.Fatalf("EVENTS max age = %s after update", got)
	}
	if got := st.CachedInfo().Config.Duplicates; got < 5*time.Minute {
		t.Fatalf("EVENTS duplicate window %s, design needs >= 5m", got)
	}
}

func TestRedact(t *testing.T) {
	tests := map[string]string{
		"nats://127.0.0.1:4222":                 "nats://127.0.0.1:4222",
		"nats://user:secret@h:4222":             "nats://user:xxxxx@h:4222",
		"nats://token@h:4222":                   "nats://xxxxx@h:4222",
		"nats://a:b@h1:4222,nats://c:d@h2:4222": "nats://a:xxxxx@h1:4222,nats://c:xxxxx@h2:4222",
	}
	for in, want := range tests {
		if got := bus.Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

package lane_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/lane"
	"github.com/aftershock/aftershock/internal/rule"
)

// TestCreateLeavesAnExistingConsumer: Create makes a missing consumer
// with the filters given, and does not touch one that exists (Prepare
// would bring it to the filters given, under the router that owns it).
func TestCreateLeavesAnExistingConsumer(t *testing.T) {
	s := bustest.Server(t)
	c := bustest.Connect(t, s)
	ctx := context.Background()
	set := ruleSet(t)
	l := lane.New(lane.Config{
		Durable: "fleet", Source: lane.Events(), Pinned: true, AckWait: 3 * time.Second, PinnedTTL: 3 * time.Second,
		JS: c.JS, Rules: func() *rule.Set { return set }, Log: bustest.Logger(t),
	})
	filters := func() []string {
		cons, err := c.JS.Consumer(ctx, bus.StreamEvents, "fleet")
		if err != nil {
			t.Fatal(err)
		}
		cfg := cons.CachedInfo().Config
		return append(cfg.FilterSubjects, cfg.FilterSubject)
	}
	if err := l.Create(ctx, []string{"events.a.>"}); err != nil {
		t.Fatal(err)
	}
	if got := filters(); !slices.Contains(got, "events.a.>") {
		t.Fatalf("filters %v after Create, want events.a.>", got)
	}
	if err := l.Create(ctx, []string{"events.b.>"}); err != nil {
		t.Fatal(err)
	}
	if got := filters(); !slices.Contains(got, "events.a.>") || slices.Contains(got, "events.b.>") {
		t.Errorf("filters %v after a second Create, want events.a.> kept", got)
	}
	if err := l.Prepare(ctx, []string{"events.b.>"}); err != nil {
		t.Fatal(err)
	}
	if got := filters(); !slices.Contains(got, "events.b.>") {
		t.Errorf("filters %v after Prepare, want events.b.>", got)
	}
}

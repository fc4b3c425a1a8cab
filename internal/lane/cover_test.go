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

// TestCoverOnlyWidens: Cover makes a missing consumer with the filters
// given and only adds to the filters of one that exists (Prepare brings it
// to the filters given, under the router that owns it); no filter at all
// reads everything, and stays so.
func TestCoverOnlyWidens(t *testing.T) {
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
		if cfg.FilterSubject != "" {
			return []string{cfg.FilterSubject}
		}
		return cfg.FilterSubjects
	}
	steps := []struct {
		do      string
		filters []string
		want    []string
	}{
		{"cover", []string{"events.*.*.dns"}, []string{"events.*.*.dns"}},                   // made
		{"cover", []string{"events.*.*.app"}, []string{"events.*.*.app", "events.*.*.dns"}}, // widened
		{"cover", []string{"events.*.*.dns"}, []string{"events.*.*.app", "events.*.*.dns"}}, // not narrowed
		{"prepare", []string{"events.*.*.node"}, []string{"events.*.*.node"}},               // the owner's own
		{"cover", []string{}, nil},                 // everything
		{"cover", []string{"events.*.*.dns"}, nil}, // still everything
	}
	for i, st := range steps {
		var err error
		if st.do == "cover" {
			err = l.Cover(ctx, st.filters)
		} else {
			err = l.Prepare(ctx, st.filters)
		}
		if err != nil {
			t.Fatalf("step %d: %s %v: %v", i, st.do, st.filters, err)
		}
		if got := filters(); !slices.Equal(got, st.want) {
			t.Errorf("step %d: after %s %v the consumer reads %v, want %v", i, st.do, st.filters, got, st.want)
		}
	}
}

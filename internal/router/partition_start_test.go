package router_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
)

// TestPartitionedFirstEvents: events published as soon as a partitioned
// router says it is ready are evaluated for real. The lanes' consumers
// used to be made when the router first took its lanes, a moment after
// it was ready, and a new consumer starts after what the stream holds:
// what came in between was read back silently, its pages lost (task
// chaos --partitions 8 lost the first 12 pages of every run).
func TestPartitionedFirstEvents(t *testing.T) {
	s := bustest.Server(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "page.yaml"), []byte(`rules:
  - name: page
    severity: critical
    match: event.type == "aftershock.test"
    group_by: [event.id]
    summary: 'page {{ .event.id }}'
`), 0o644); err != nil {
		t.Fatal(err)
	}
	c := bustest.Connect(t, s)
	r := startPartitioned(t, s.ClientURL(), "a", dir, 4)
	t.Cleanup(r.Close)
	// Ready means the consumers are there: whatever is stored from now on
	// is theirs to deliver, whenever a router takes them.
	for _, name := range []string{"router-p0", "router-p1", "router-p2", "router-p3", "router-drills"} {
		if _, err := c.JS.Consumer(context.Background(), bus.StreamPartitioned, name); err != nil {
			t.Errorf("consumer %s when the router is ready: %v", name, err)
		}
	}
	b := burst{js: c.JS, clusters: clusterNames(8), t0: time.Now().Add(-time.Minute)}
	b.publish(t, 0, 0, nil)
	waitFor(t, time.Minute, "a page for every cluster's first event", func() bool {
		return len(storedAlerts(t, c.JS)) == len(b.clusters)
	})
}

// TestFleetRulesAddedByReload: a reload that brings fleet rules the fleet
// lane's consumer does not read for yet (the first fleet rule, or one on an
// event class no fleet rule named) has the consumer read for them before
// it returns, as a start does for every lane, and an event stored right
// after the reload is paged on. Before, the consumer was made or its
// filters changed when a router next took the lane (a heartbeat or a few
// ms later): a new consumer started after what the stream held then, and
// the server does not rewind a consumer whose filters change, so the
// events in between were never paged on.
func TestFleetRulesAddedByReload(t *testing.T) {
	fleetRule := func(name, typ string) string {
		return `rules:
  - name: ` + name + `
    severity: warning
    match: event.type == "` + typ + `"
    group_by: [event.type]
    window: 1h
    condition: window.events() >= 1
    summary: 'seen across the fleet'
`
	}
	for _, tc := range []struct {
		name      string
		before    string // the rules the router starts with
		fleetLane bool   // whether they have the router take the fleet lane
		added     string // the fleet rule the reload brings, on aftershock.test
	}{
		{"the first fleet rule", `rules:
  - name: page
    severity: critical
    match: event.type == "aftershock.test"
    group_by: [event.cluster, event.id]
    summary: 'page {{ .event.id }}'
`, false, "fleet-wide"},
		// class dns: the lane reads events.*.*.dns, the new rule needs .app
		{"a fleet rule on a new event class", fleetRule("fleet-a", "dns.timeout"), true, "fleet-b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := bustest.Server(t)
			dir := t.TempDir()
			writeFile(t, filepath.Join(dir, "before.yaml"), tc.before)
			c := bustest.Connect(t, s)
			r := startPartitioned(t, s.ClientURL(), "a", dir, 2)
			t.Cleanup(r.Close)
			ctx := context.Background()
			if tc.fleetLane {
				waitFor(t, 30*time.Second, "the router to take the fleet lane", func() bool {
					return slices.Contains(r.Lanes(), "fleet")
				})
			} else if _, err := c.JS.Consumer(ctx, bus.StreamEvents, "router-fleet"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
				t.Fatalf("fleet consumer without fleet rules: %v", err)
			}
			writeFile(t, filepath.Join(dir, "added.yaml"), fleetRule(tc.added, "aftershock.test"))
			if err := r.Reload(ctx); err != nil {
				t.Fatal(err)
			}
			// When the reload returns, not when a router next takes the lane.
			if cons, err := c.JS.Consumer(ctx, bus.StreamEvents, "router-fleet"); err != nil {
				t.Errorf("fleet consumer when the reload returns: %v", err)
			} else if cfg := cons.CachedInfo().Config; cfg.FilterSubject != "" ||
				len(cfg.FilterSubjects) > 0 && !slices.Contains(cfg.FilterSubjects, "events.*.*.app") {
				t.Errorf("fleet consumer reads %q %v when the reload returns, want events.*.*.app among them", cfg.FilterSubject, cfg.FilterSubjects)
			}
			b := burst{js: c.JS, clusters: clusterNames(1), t0: time.Now().Add(-time.Minute)}
			b.publish(t, 0, 0, nil)
			waitFor(t, 30*time.Second, "the new fleet rule's alert", func() bool {
				for _, a := range storedAlerts(t, c.JS) {
					if a.Rule == tc.added {
						return true
					}
				}
				return false
			})
		})
	}
}

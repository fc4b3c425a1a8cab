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

// TestFleetRulesAddedByReload: a reload that brings the first fleet rule
// (one that correlates across clusters) makes the fleet lane's consumer
// before it returns, as a start does for every lane. It used to be made
// when a router next took the lane (up to a heartbeat later), starting
// after what the stream held, so the events in between were read back
// silently and the new rule never paged on them.
func TestFleetRulesAddedByReload(t *testing.T) {
	s := bustest.Server(t)
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("page.yaml", `rules:
  - name: page
    severity: critical
    match: event.type == "aftershock.test"
    group_by: [event.cluster, event.id]
    summary: 'page {{ .event.id }}'
`)
	c := bustest.Connect(t, s)
	r := startPartitioned(t, s.ClientURL(), "a", dir, 2)
	t.Cleanup(r.Close)
	ctx := context.Background()
	if _, err := c.JS.Consumer(ctx, bus.StreamEvents, "router-fleet"); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("fleet consumer without fleet rules: %v", err)
	}
	write("fleet.yaml", `rules:
  - name: fleet-wide
    severity: warning
    match: event.type == "aftershock.test"
    group_by: [event.type]
    window: 1h
    condition: window.events() >= 1
    summary: 'seen across the fleet'
`)
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.JS.Consumer(ctx, bus.StreamEvents, "router-fleet"); err != nil {
		t.Errorf("fleet consumer when the reload returns: %v", err)
	}
	b := burst{js: c.JS, clusters: clusterNames(1), t0: time.Now().Add(-time.Minute)}
	b.publish(t, 0, 0, nil)
	waitFor(t, 30*time.Second, "the new fleet rule's alert", func() bool {
		for _, a := range storedAlerts(t, c.JS) {
			if a.Rule == "fleet-wide" {
				return true
			}
		}
		return false
	})
}

// TestFleetRuleOnANewTypeByReload: a reload that adds a fleet rule on an
// event type no fleet rule read before changes the fleet lane's filters;
// an event of that type stored right after the reload is paged on.
func TestFleetRuleOnANewTypeByReload(t *testing.T) {
	s := bustest.Server(t)
	dir := t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
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
	write("a.yaml", fleetRule("fleet-a", "dns.timeout")) // class dns: the lane reads events.*.*.dns
	c := bustest.Connect(t, s)
	r := startPartitioned(t, s.ClientURL(), "a", dir, 2)
	t.Cleanup(r.Close)
	ctx := context.Background()
	waitFor(t, 30*time.Second, "the router to take the fleet lane", func() bool {
		return slices.Contains(r.Lanes(), "fleet")
	})
	write("b.yaml", fleetRule("fleet-b", "aftershock.test"))
	if err := r.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	b := burst{js: c.JS, clusters: clusterNames(1), t0: time.Now().Add(-time.Minute)}
	b.publish(t, 0, 0, nil)
	waitFor(t, 30*time.Second, "the new fleet rule's alert", func() bool {
		for _, a := range storedAlerts(t, c.JS) {
			if a.Rule == "fleet-b" {
				return true
			}
		}
		return false
	})
}

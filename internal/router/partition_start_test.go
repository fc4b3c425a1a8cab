package router_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

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

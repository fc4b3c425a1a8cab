package router_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/outbox"
)

// TestPartitionedRoutersHandOverGracefully: a router joining takes its
// share of the partitions from the one running (which drains and unpins
// them), a router leaving hands them back without waiting for its key to
// expire, and the fleet lane evaluates the rules that group across
// clusters, over every partition's events.
func TestPartitionedRoutersHandOverGracefully(t *testing.T) {
	const partitions = 4
	s := bustest.Server(t)
	clusters := clusterNames(8)
	total := burstN * len(clusters)
	rules := burstDir(t)
	fleet := fmt.Sprintf(`rules:
  - name: fleet-burst
    severity: info
    match: event.type == "aftershock.test"
    group_by: [{source: event.source}]
    window: 1h
    condition: window.events() >= %d
    values:
      n: window.events()
    summary: 'fleet burst: n={{ .values.n }}'
`, total)
	if err := os.WriteFile(filepath.Join(rules, "fleet.yaml"), []byte(fleet), 0o644); err != nil {
		t.Fatal(err)
	}
	a := startPartitioned(t, s.ClientURL(), "router-a", rules, partitions)
	t.Cleanup(a.Close)
	const lanes = partitions + 2 // + drills and fleet
	waitFor(t, time.Minute, "a alone to own every lane", func() bool { return len(a.Lanes()) == lanes })

	bu := burst{js: a.Conn().JS, clusters: clusters, t0: time.Now().Add(-30 * time.Minute).Truncate(time.Second)}
	ctx := context.Background()
	bu.publish(t, 1, burstN/2, nil)
	waitFor(t, time.Minute, "the first half evaluated", func() bool {
		return drained(ctx, a.Conn().JS, partitions, uint64(total/2))
	})

	b := startPartitioned(t, s.ClientURL(), "router-b", rules, partitions)
	closeB := sync.OnceFunc(b.Close)
	t.Cleanup(closeB)
	waitFor(t, time.Minute, "the lanes split between a and b", func() bool {
		na, nb := len(a.Lanes()), len(b.Lanes())
		return na+nb == lanes && na > 0 && nb > 0
	})
	t.Logf("split: a %v, b %v", a.Lanes(), b.Lanes())
	bu.publish(t, burstN/2+1, burstN-5, nil)
	waitFor(t, time.Minute, "most of the second half evaluated", func() bool {
		return drained(ctx, a.Conn().JS, partitions, uint64(total-5*len(clusters)))
	})

	left := time.Now()
	closeB()
	waitFor(t, time.Minute, "a to own every lane again", func() bool { return len(a.Lanes()) == lanes })
	t.Logf("graceful hand-over: a owned every lane %s after b closed", time.Since(left).Round(time.Millisecond))
	bu.publish(t, burstN-4, burstN, nil)
	waitFor(t, time.Minute, "every burst evaluated", func() bool {
		return drained(ctx, a.Conn().JS, partitions, uint64(total))
	})
	waitFor(t, time.Minute, "the fleet burst", func() bool {
		for _, al := range storedAlerts(t, a.Conn().JS) {
			if al.Rule == "fleet-burst" {
				return true
			}
		}
		return false
	})
	var perCluster []alert.Alert
	for _, al := range storedAlerts(t, a.Conn().JS) {
		if al.Rule == "fleet-burst" {
			if want := fmt.Sprintf("fleet burst: n=%d", total); al.Summary != want {
				t.Errorf("fleet alert %q, want %q", al.Summary, want)
			}
			continue
		}
		perCluster = append(perCluster, al)
	}
	if len(perCluster) != len(clusters) {
		// Seen once (0 of 8 stored): say where the lanes and consumers
		// stood, for the next time.
		t.Logf("lanes of a: %v", a.Lanes())
		for p := range partitions {
			if c, err := a.Conn().JS.Consumer(ctx, bus.StreamPartitioned, fmt.Sprintf("router-p%d", p)); err == nil {
				if info, err := c.Info(ctx); err == nil {
					t.Logf("router-p%d: delivered %d, ack floor %d, pending %d, ack pending %d", p,
						info.Delivered.Stream, info.AckFloor.Stream, info.NumPending, info.NumAckPending)
				}
			}
		}
	}
	checkBurstAlerts(t, perCluster, bu)
}

// TestPartitionedDrillsAndDeadLetters: drills (not partitioned) are
// evaluated on the drills lane and their alerts marked; bad events are
// dead-lettered with the subject and EVENTS sequence they were published
// with, from a partition (a well-formed subject naming another node) and
// from the drills lane (a subject too short to be partitioned).
func TestPartitionedDrillsAndDeadLetters(t *testing.T) {
	s := bustest.Server(t)
	r := startPartitioned(t, s.ClientURL(), "solo", rulesDir(t), 2)
	t.Cleanup(r.Close)
	waitFor(t, time.Minute, "every lane owned", func() bool { return len(r.Lanes()) == 3 })
	js := r.Conn().JS
	publish(t, js, "drill.events.dev.node-3.app", "drill-1", testEvent("drill-1", "node-3", "a drill", time.Now()))
	publish(t, js, "events.dev.node-9.app", "bad-1", testEvent("bad-1", "node-3", "another node's", time.Now()))
	publish(t, js, "events.dev", "bad-2", testEvent("bad-2", "node-3", "short", time.Now()))
	publish(t, js, "events.dev.node-4.app", "live-1", testEvent("live-1", "node-4", "live", time.Now()))
	ctx := context.Background()
	var drill, live []alert.Alert
	waitFor(t, time.Minute, "the drill and live alerts", func() bool {
		drill, live = nil, nil
		for _, a := range storedAlerts(t, js) {
			if a.Drill {
				drill = append(drill, a)
			} else {
				live = append(live, a)
			}
		}
		return len(drill) > 0 && len(live) > 0
	})
	if len(drill) != 1 || len(live) != 1 || drill[0].Summary != "test event from node-3: a drill" || live[0].Summary != "test event from node-4: live" {
		t.Fatalf("drill %+v, live %+v", drill, live)
	}
	st, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, time.Minute, "two dead letters", func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == 2
	})
	got := map[string]string{}
	for seq := uint64(1); seq <= 2; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		got[m.Header.Get(outbox.HeaderSubject)] = m.Header.Get(outbox.HeaderSeq)
	}
	if got["events.dev.node-9.app"] != "2" || got["events.dev"] != "3" {
		t.Errorf("dead letters (subject: EVENTS seq) %v", got)
	}
	if lanes := laneEvents(t, r); lanes["drills"] != 2 {
		t.Errorf("drills lane evaluated %v events, want the drill and the short subject", lanes["drills"])
	}
}

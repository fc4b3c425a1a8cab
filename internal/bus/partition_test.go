package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
)

func TestUnpartition(t *testing.T) {
	tests := []struct {
		in   string
		p    int
		orig string
		ok   bool
	}{
		{"part.3.events.prod.node-1.kernel", 3, "events.prod.node-1.kernel", true},
		{"part.0.drill.events.prod.n.app", 0, "drill.events.prod.n.app", true},
		{"events.prod.node-1.kernel", 0, "", false},
		{"part.x.events.a.b.c", 0, "", false},
		{"part.-1.events.a.b.c", 0, "", false},
		{"part.3", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			p, orig, ok := bus.Unpartition(tt.in)
			if p != tt.p || orig != tt.orig || ok != tt.ok {
				t.Fatalf("got %d %q %v, want %d %q %v", p, orig, ok, tt.p, tt.orig, tt.ok)
			}
		})
	}
}

// TestPartitionedStream: every subject EVENTS stores reaches the
// partitioned stream exactly once, under the partition of its cluster, with
// its EVENTS sequence; a cluster's live and drill events share a partition.
func TestPartitionedStream(t *testing.T) {
	s := bustest.Server(t)
	c, err := bus.Connect(context.Background(), bus.Options{URL: s.ClientURL()}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ctx := context.Background()
	top := bus.DefaultTopology()
	top.Partitions, top.MemberTTL = 4, 10*time.Second
	done, err := bus.Provision(ctx, c.JS, top)
	if err != nil {
		t.Fatal(err)
	}
	if done[bus.StreamPartitioned] != bus.Created || done["KV_"+bus.BucketRouters] != bus.Created {
		t.Fatalf("provisioned %v", done)
	}
	start, caught, err := bus.PartitionStart(ctx, c.JS)
	if err != nil || start != 1 || !caught {
		t.Fatalf("start on an empty stream: %d %v %v", start, caught, err)
	}

	var subjects []string
	for i := range 12 {
		subjects = append(subjects, fmt.Sprintf("events.c%d.node-1.kernel", i), fmt.Sprintf("drill.events.c%d.node-1.app", i))
	}
	// Malformed subjects are partitioned too, so the router can dead-letter them.
	subjects = append(subjects, "events.c1", "events.c1.n", "events.c1.n.kernel.extra.more", "drill.events.c2", "drill.events.c2.n.x.y")
	for _, subj := range subjects {
		if _, err := c.JS.Publish(ctx, subj, []byte(`{}`)); err != nil {
			t.Fatalf("publish %s: %v", subj, err)
		}
	}
	st, err := c.JS.Stream(ctx, bus.StreamPartitioned)
	if err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "everything sourced", func() bool {
		info, err := st.Info(ctx)
		return err == nil && info.State.Msgs == uint64(len(subjects))
	})
	partOf := map[string]int{} // cluster -> partition
	seen := map[string]bool{}
	used := map[int]bool{}
	for seq := uint64(1); seq <= uint64(len(subjects)); seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		p, orig, ok := bus.Unpartition(m.Subject)
		if !ok || p >= 4 {
			t.Fatalf("%s: not a partitioned subject", m.Subject)
		}
		used[p] = true
		if seen[orig] {
			t.Fatalf("%s sourced twice", orig)
		}
		seen[orig] = true
		if src, ok := bus.SourceSeq(m.Header); !ok || subjects[src-1] != orig {
			t.Fatalf("%s: source seq %d (%v) does not name it", m.Subject, src, ok)
		}
		cluster, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimPrefix(orig, "drill."), "events."), ".")
		if prev, ok := partOf[cluster]; ok && prev != p {
			t.Fatalf("cluster %s in partitions %d and %d", cluster, prev, p)
		}
		partOf[cluster] = p
	}
	if len(used) < 2 {
		t.Fatalf("12 clusters all in partitions %v", used)
	}
	start, caught, err = bus.PartitionStart(ctx, c.JS)
	if err != nil || start != uint64(len(subjects))+1 || !caught {
		t.Fatalf("start after %d messages: %d %v %v", len(subjects), start, caught, err)
	}

	again, err := bus.Provision(ctx, c.JS, top)
	if err != nil || again[bus.StreamPartitioned] != bus.Unchanged {
		t.Fatalf("second provision: %v %v", again, err)
	}
	top.Partitions = 8
	if _, err := bus.Provision(ctx, c.JS, top); !errors.Is(err, bus.ErrPartitionCount) {
		t.Fatalf("changing the count: got %v, want ErrPartitionCount", err)
	}
}

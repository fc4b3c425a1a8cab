package bus_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
)

func TestOrigin(t *testing.T) {
	tests := []struct {
		header string
		seq    uint64
		subj   string
		ok     bool
	}{
		{"EVENTS 42 > > events.prod.node-1.kernel 2jtifnYS", 42, "events.prod.node-1.kernel", true},
		{"EVENTS 7 > > drill.events.c.n.app", 7, "drill.events.c.n.app", true},
		{"OTHER 42 > > events.prod.node-1.kernel", 0, "", false},
		{"EVENTS x > > events.prod.node-1.kernel", 0, "", false},
		{"EVENTS 42", 0, "", false},
		{"", 0, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			h := nats.Header{}
			h.Set("Nats-Stream-Source", tt.header)
			seq, subj, ok := bus.Origin(h)
			if seq != tt.seq || subj != tt.subj || ok != tt.ok {
				t.Fatalf("got %d %q %v, want %d %q %v", seq, subj, ok, tt.seq, tt.subj, tt.ok)
			}
		})
	}
}

// TestPartitionedStream: every event EVENTS stores reaches the partitioned
// stream once, with its EVENTS sequence; well-formed live events under
// the partition of their cluster, drills and malformed subjects as they
// came.
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
	asIs := []string{"events.c1", "events.c1.n", "events.c1.n.kernel.extra.more", "drill.events.c2", "drill.events.c2.n.x.y"}
	subjects = append(subjects, asIs...)
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
	used := map[int]bool{}
	for seq := uint64(1); seq <= uint64(len(subjects)); seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		src, published, ok := bus.Origin(m.Header)
		if !ok || published != subjects[src-1] {
			t.Fatalf("%s: origin %d %q (%v) in %q", m.Subject, src, published, ok, m.Header)
		}
		orig := subjects[src-1]
		tok := strings.Split(orig, ".")
		if !(tok[0] == "events" && len(tok) == 4) {
			if m.Subject != orig {
				t.Fatalf("%s should be stored as it came, is %s", orig, m.Subject)
			}
			continue
		}
		var p int
		var cluster, class string
		if n, err := fmt.Sscanf(strings.ReplaceAll(m.Subject, ".", " "), "part %d events %s %s", &p, &cluster, &class); n != 3 || err != nil ||
			cluster != tok[1] || class != tok[3] || p >= 4 || m.Subject != fmt.Sprintf("part.%d.events.%s.%s", p, cluster, class) {
			t.Fatalf("%s stored as %s", orig, m.Subject)
		}
		used[p] = true
		if prev, ok := partOf[cluster]; ok && prev != p {
			t.Fatalf("cluster %s in partitions %d and %d", cluster, prev, p)
		}
		partOf[cluster] = p
	}
	if len(used) < 2 || len(partOf) != 12 {
		t.Fatalf("12 clusters in partitions %v", used)
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

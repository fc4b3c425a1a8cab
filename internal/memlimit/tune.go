package memlimit

import (
	"context"
	"log/slog"
	"math"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// A larger GOGC is only safe while the heap is small beside the soft
// limit. Near the limit the runtime collects as the limit demands, but
// it caps the collector at half the CPU, and a heap that grew toward the
// limit with much garbage overshoots it: a router in a 512 MiB cgroup fed
// distinct alerts was OOM-killed at 43 000–50 000 of them with GOGC 400,
// and held 50 000 at 100. So --gc-percent auto follows the live heap: the
// collection goal (live × (1 + GOGC/100)) stays under half the soft limit,
// GOGC between Go's 100 and the command's auto value. A heap past a
// quarter of the limit therefore runs at 100, as before.

// Tuned is the GOGC for a live heap of live bytes under a soft limit of
// limit bytes, between floor and most.
func Tuned(live, limit uint64, floor, most int) int {
	switch {
	case limit == 0 || limit >= math.MaxInt64:
		return floor // no limit to keep the heap under
	case live == 0:
		return most
	}
	g := (float64(limit)/2/float64(live) - 1) * 100
	return int(max(float64(floor), min(float64(most), g)))
}

// A Tuner sets GOGC to Tuned(live heap, limit, 100, Most) at its start
// and after every collection (checked each Every).
type Tuner struct {
	Most int
	// Limit is the soft limit to stay under; 0: the runtime's.
	Limit int64
	Every time.Duration
	Log   *slog.Logger
}

// Run tunes until ctx ends.
func (t Tuner) Run(ctx context.Context) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/cycles/total:gc-cycles"}}
	var cycles uint64
	set := -1
	tick := time.NewTicker(t.Every)
	defer tick.Stop()
	for {
		metrics.Read(s)
		if c := s[1].Value.Uint64(); c != cycles || set < 0 {
			cycles = c
			limit := t.Limit
			if limit == 0 {
				limit = debug.SetMemoryLimit(-1)
			}
			if g := Tuned(s[0].Value.Uint64(), uint64(limit), 100, t.Most); g != set {
				debug.SetGCPercent(g)
				t.Log.Debug("gc percent tuned", "gogc", g, "live_heap_bytes", s[0].Value.Uint64())
				set = g
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

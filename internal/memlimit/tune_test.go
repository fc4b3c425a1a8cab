package memlimit

import (
	"context"
	"log/slog"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"testing"
	"time"
)

func TestTuned(t *testing.T) {
	const mb = 1 << 20
	for _, tt := range []struct {
		name        string
		live, limit uint64
		want        int
	}{
		{"nothing live yet", 0, 460 * mb, 400},
		{"small heap: the most", 10 * mb, 460 * mb, 400},
		{"goal at half the limit", 46 * mb, 460 * mb, 400},
		{"between", 57*mb + mb/2, 460 * mb, 300},
		{"a quarter of the limit: Go's default", 115 * mb, 460 * mb, 100},
		{"past it: never under the floor", 300 * mb, 460 * mb, 100},
		{"no limit", 10 * mb, math.MaxInt64, 100},
	} {
		if got := Tuned(tt.live, tt.limit, 100, 400); got != tt.want {
			t.Errorf("%s: Tuned(%d MB, %d MB) = %d, want %d", tt.name, tt.live/mb, tt.limit/mb, got, tt.want)
		}
	}
}

// TestTuneFollowsTheLiveHeap runs the tuner against the real runtime: a
// live heap past a quarter of the soft limit brings GOGC down to 100, and
// letting it go brings it back up.
func TestTuneFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(400 << 20))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Tuner{Most: 400, Every: 5 * time.Millisecond, Log: slog.New(slog.DiscardHandler)}.Run(ctx)
	waitGOGC(t, 400)
	ballast := make([]byte, 120<<20)
	runtime.GC()
	waitGOGC(t, 100)
	runtime.KeepAlive(ballast)
	ballast = nil
	runtime.GC()
	waitGOGC(t, 400)
	_ = ballast
}

func waitGOGC(t *testing.T, want uint64) {
	t.Helper()
	s := []metrics.Sample{{Name: "/gc/gogc:percent"}}
	for deadline := time.Now().Add(10 * time.Second); ; {
		metrics.Read(s)
		if got := s[0].Value.Uint64(); got == want {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("GOGC %d, want %d", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

package router_test

import (
	"context"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/memlimit"
	"github.com/aftershock/aftershock/internal/router"
)

// deployedLimit is the soft memory limit the router takes in the shipped
// Deployment: 90 % of its 512Mi.
const deployedLimit = 512 << 20 * 9 / 10

// deployedGC runs b with the GOGC the router takes in the shipped
// Deployment (--gc-percent auto: following the live heap under its soft
// limit), unless $GOGC is set, so a run can compare. The soft limit itself
// is not set: this process also holds nats-server, whose block caches
// alone approach it in BenchmarkAlertStorm and would make the collector
// run for the limit's sake, which the router's own process does not. Its
// heap does count as live for the tuning, which is therefore, if anything,
// harsher than the router's. Heap.Report reports the GOGC at the end;
// the setting is restored after b.
func deployedGC(b *testing.B) {
	b.Helper()
	if os.Getenv("GOGC") != "" {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	gc := debug.SetGCPercent(100)
	b.Cleanup(func() {
		cancel()
		<-done
		debug.SetGCPercent(gc)
	})
	go func() {
		defer close(done)
		memlimit.Tuner{Most: router.GCPercent, Limit: deployedLimit, Every: time.Second, Log: bustest.Logger(b)}.Run(ctx)
	}()
}

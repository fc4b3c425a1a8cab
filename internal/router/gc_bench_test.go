package router_test

import (
	"context"
	"flag"
	"runtime/debug"
	"testing"
	"testing/fstest"

	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/memlimit"
	"github.com/aftershock/aftershock/internal/router"
)

// deployedGC runs b under the garbage collector settings the router takes
// in the shipped Deployment: its flags' defaults applied as under the
// 512Mi limit (a soft limit of 90 %, GOGC following the live heap).
// $GOGC and $GOMEMLIMIT win, as they do for the router, so a run can
// compare. This process also holds nats-server, whose heap counts against
// the limit here and not in the Deployment: the settings are, if
// anything, harsher than the router's. Heap.Report reports the GOGC at the
// end; everything is restored after b.
func deployedGC(b *testing.B) {
	b.Helper()
	var f memlimit.Flags
	fs := flag.NewFlagSet("router", flag.ContinueOnError)
	f.Register(fs)
	f.RegisterGC(fs, router.GCPercent)
	if err := fs.Parse(nil); err != nil {
		b.Fatal(err)
	}
	cgroup := fstest.MapFS{
		"proc/self/cgroup":         {Data: []byte("0::/\n")},
		"sys/fs/cgroup/memory.max": {Data: []byte("536870912\n")},
	}
	gc, limit := debug.SetGCPercent(100), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gc)
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(func() {
		cancel()
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	})
	if _, err := f.Apply(ctx, cgroup, bustest.Logger(b)); err != nil {
		b.Fatal(err)
	}
}

package router_test

import (
	"flag"
	"runtime/debug"
	"testing"
	"testing/fstest"

	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/memlimit"
	"github.com/aftershock/aftershock/internal/router"
)

// deployedGC runs b under the garbage collector settings the router takes
// in the shipped Deployment: its flags' defaults applied under a 512Mi
// cgroup limit (a soft limit of 90 % and --gc-percent auto). $GOGC and
// $GOMEMLIMIT still win, as they do for the router, so a run can compare.
// It reports the GOGC in force (gogc); the settings are restored after b.
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
	gc, limit := debug.SetGCPercent(-1), debug.SetMemoryLimit(-1)
	debug.SetGCPercent(gc)
	b.Cleanup(func() {
		debug.SetGCPercent(gc)
		debug.SetMemoryLimit(limit)
	})
	if _, err := f.Apply(cgroup, bustest.Logger(b)); err != nil {
		b.Fatal(err)
	}
	now := debug.SetGCPercent(-1)
	debug.SetGCPercent(now)
	b.ReportMetric(float64(now), "gogc")
}

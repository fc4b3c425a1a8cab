package router_test

import (
	"os"
	"runtime/debug"
	"testing"

	"github.com/aftershock/aftershock/internal/router"
)

// deployedGC runs b with the GOGC the router takes in the shipped
// Deployment (--gc-percent auto under its memory limit: router.GCPercent),
// unless $GOGC is set, so a run can compare. The Deployment's soft memory
// limit is not set: it is the router's share of a container, and this
// process also holds nats-server, whose stream caches alone can reach it in
// BenchmarkAlertStorm. It reports the GOGC in force (gogc) and restores
// the setting after b.
func deployedGC(b *testing.B) {
	b.Helper()
	gc := router.GCPercent
	prev := debug.SetGCPercent(gc)
	if os.Getenv("GOGC") != "" {
		gc = prev
		debug.SetGCPercent(prev)
	}
	b.Cleanup(func() { debug.SetGCPercent(prev) })
	b.ReportMetric(float64(gc), "gogc")
}

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
// BenchmarkAlertStorm. The setting is restored after b (bustest's
// Heap.Report reports it: ResetTimer drops metrics reported before).
func deployedGC(b *testing.B) {
	b.Helper()
	prev := debug.SetGCPercent(router.GCPercent)
	if os.Getenv("GOGC") != "" {
		debug.SetGCPercent(prev)
	}
	b.Cleanup(func() { debug.SetGCPercent(prev) })
}

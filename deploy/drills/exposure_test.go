package drills_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/router"
)

// TestKernelExposureFirstPage: in the kernel-exposure drill the fleet
// warning, raised by the first crash's reboot report, names the 37 other
// nodes on 4.4.0-104-generic (not the canaries) and counts them, and it
// resolves only when the last exposed node's posture on 4.15 arrives.
func TestKernelExposureFirstPage(t *testing.T) {
	set, err := router.LoadRules("../../rules", nil)
	if err != nil {
		t.Fatal(err)
	}
	d := drill{"kernel-exposure", "prod-hz"}
	e := correlate.New(set, bustest.Logger(t), correlate.Options{})
	arrival := time.Now()
	var got []*alert.Alert
	var lastPosture time.Time
	for _, line := range d.lines(t) {
		ev, err := event.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type == event.TypePosture {
			lastPosture = ev.Time
		}
		arrival = arrival.Add(time.Millisecond)
		for _, a := range e.Process(ev, correlate.Meta{Drill: true, Arrival: arrival}) {
			if a.Rule == "kernel-exposure" {
				got = append(got, a)
			}
		}
	}
	if len(got) != 2 || got[0].State != alert.Firing || got[1].State != alert.Resolved {
		t.Fatalf("kernel-exposure alerts: %d, want a page and its resolve notice", len(got))
	}
	first := got[0]
	const want = "37 other nodes run 4.4.0-104-generic, the kernel that hit ubuntu-1653498 on 172.22.0.7: upgrade or drain them"
	if first.Update != 0 || first.Summary != want || !first.StartsAt.Equal(time.Date(2020, 6, 11, 2, 52, 48, 0, time.UTC)) {
		t.Fatalf("first page: update %d at %v: %q, want %q", first.Update, first.StartsAt, first.Summary, want)
	}
	exposed, ok := strings.CutPrefix(first.Annotations["exposed"], "37 nodes on 4.4.0-104-generic: ")
	names := strings.Fields(exposed)
	if !ok || len(names) != 37 || slices.Contains(names, "172.22.0.7") || slices.Contains(names, "172.22.0.39") || slices.Contains(names, "172.22.0.40") {
		t.Fatalf("first page's exposed nodes: %q", first.Annotations["exposed"])
	}
	if end := got[1].EndsAt; !end.Equal(lastPosture) {
		t.Fatalf("resolved at %v, want at the last upgrade's posture %v", end, lastPosture)
	}
}

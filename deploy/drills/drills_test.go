package drills_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/router"
)

// TestDrillAlerts runs each recording through the router's engine with
// the repository's rules, as the router would on a drill subject (stored
// within a second), and compares every alert with the README.
func TestDrillAlerts(t *testing.T) {
	set, err := router.LoadRules("../../rules", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range drills {
		t.Run(d.dir, func(t *testing.T) {
			e := correlate.New(set, bustest.Logger(t), correlate.Options{})
			arrival := time.Now()
			var got []*alert.Alert
			replay := func() []*alert.Alert {
				var out []*alert.Alert
				for _, line := range d.lines(t) {
					ev, err := event.Decode(line)
					if err != nil {
						t.Fatal(err)
					}
					arrival = arrival.Add(time.Millisecond)
					out = append(out, e.Process(ev, correlate.Meta{Drill: true, Arrival: arrival})...)
				}
				return out
			}
			got = replay()
			compare(t, d, final(got))
			// The same file again within the run gap: nothing new.
			ids := map[string]bool{}
			for _, a := range got {
				ids[a.ID] = true
			}
			for _, a := range replay() {
				if !ids[a.ID] {
					t.Errorf("second replay raised a new alert: %s %s %s %q", a.Rule, a.GroupKey, a.State, a.Summary)
				}
			}
		})
	}
}

// TestRunbookListsEveryDrill: the runbook's replay-all loop names every
// recorded drill with its cluster.
func TestRunbookListsEveryDrill(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	var loop string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "for d in ") {
			loop = l
		}
	}
	for _, d := range drills {
		if !strings.Contains(loop, " "+d.dir+":"+d.cluster) {
			t.Errorf("the runbook's loop %q lacks %s:%s", loop, d.dir, d.cluster)
		}
		if row := "| [" + d.dir + "](" + d.dir + "/README.md) | `" + d.cluster + "` |"; !strings.Contains(string(b), row) {
			t.Errorf("the runbook's table lacks a row starting %q", row)
		}
	}
	// Every recording on disk is one of the drills the tests run.
	dirs, err := filepath.Glob("*/events.ndjson")
	if err != nil {
		t.Fatal(err)
	}
	if len(dirs) != len(drills) {
		t.Errorf("%d recordings on disk (%v), %d drills tested", len(dirs), dirs, len(drills))
	}
}

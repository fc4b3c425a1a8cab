package dispatch_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/notify/notifytest"
	"github.com/aftershock/aftershock/internal/route"
)

// reconfigure applies yaml as a reload would: receivers already known keep
// their fakes (so what they got stays in one list), new ones get new fakes.
func (e *env) reconfigure(yaml string) error {
	e.t.Helper()
	r, probs := route.Parse("routing.yaml", []byte(yaml))
	if len(probs) > 0 {
		e.t.Fatal(probs)
	}
	var targets []dispatch.Target
	for _, rc := range r.Receivers {
		rec := e.recv[rc.Name]
		if rec == nil {
			rec = notifytest.NewReceiver(rc.Name)
			e.recv[rc.Name] = rec
		}
		targets = append(targets, dispatch.Target{Receiver: rec, Drills: rc.TakesDrills(), Coalesce: 1,
			Backoff: notify.Backoff{Initial: time.Second, Max: time.Second, MaxElapsed: 3 * time.Second}})
	}
	err := e.d.Reconfigure(r, targets)
	synctest.Wait()
	return err
}

// TestReconfigure: a reload adds a receiver and a route to it. Alerts
// already firing reach the new receiver after its group_wait; groups the
// new routing still makes keep what they told their receivers (nothing is
// repeated), and take the new timing.
func TestReconfigure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil)
		e.ingest(mk("node-crash", "critical", "n1", alert.Firing, time.Now()))
		time.Sleep(30 * time.Second)
		synctest.Wait()
		e.wantSent("pager", "+n1")
		e.wantSent("team", "+n1")

		more := strings.Replace(routing, `    - matchers: [severity=critical]
      receiver: team
`, `    - matchers: [severity=critical]
      receiver: team
      continue: true
      group_interval: 1m
    - matchers: [severity=critical]
      receiver: oncall
      group_wait: 10s
`, 1)
		more = strings.Replace(more, "receivers:\n", "receivers:\n  - name: oncall\n    webhook: {url: {env: X}}\n", 1)
		if err := e.reconfigure(more); err != nil {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		e.wantSent("oncall", "+n1")
		e.wantSent("pager", "+n1")
		e.wantSent("team", "+n1")

		// The team group keeps its state and takes the new group_interval.
		e.ingest(mk("node-crash", "critical", "n2", alert.Firing, time.Now()))
		time.Sleep(time.Minute)
		synctest.Wait()
		e.wantSent("team", "+n1", "+n1 +n2")
		time.Sleep(4*time.Minute + time.Second)
		synctest.Wait()
		e.wantSent("pager", "+n1", "+n1 +n2")
		e.wantSent("oncall", "+n1", "+n1 +n2")
	})
}

// TestReconfigureDropsRoutes: a reload that routes a group's alerts
// elsewhere drops the group (and its log) and starts the new one; a
// routing naming a receiver that was not built is refused, and the old
// routing keeps working.
func TestReconfigureDropsRoutes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := dispatch.NewMemoryStore()
		e := start(t, routing, store, nil)
		e.ingest(mk("dns-timeouts", "warning", "n1", alert.Firing, time.Now()))
		time.Sleep(30 * time.Second)
		synctest.Wait()
		e.wantSent("team", "+n1")

		if err := e.d.Reconfigure(mustParse(t, strings.Replace(routing, "receivers:\n", "receivers:\n  - name: ghost\n    webhook: {url: {env: X}}\n", 1)), nil); err == nil {
			t.Fatal("a routing with receivers that were not built was accepted")
		}

		other := strings.Replace(routing, "  receiver: team\n  group_by", "  receiver: pager\n  group_by", 1)
		if err := e.reconfigure(other); err != nil {
			t.Fatal(err)
		}
		time.Sleep(30 * time.Second)
		synctest.Wait()
		e.wantSent("pager", "+n1")
		e.wantSent("team", "+n1")
		if _, logs := store.Counts(); logs != 1 {
			t.Fatalf("%d notification logs stored, want only the new group's", logs)
		}
	})
}

func mustParse(t *testing.T, yaml string) *route.Routing {
	t.Helper()
	r, probs := route.Parse("routing.yaml", []byte(yaml))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	return r
}

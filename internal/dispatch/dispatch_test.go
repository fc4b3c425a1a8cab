package dispatch_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/notify/notifytest"
	"github.com/aftershock/aftershock/internal/route"
)

const routing = `resolve_timeout: 6h
route:
  receiver: team
  group_by: [rule, cluster]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 1h
  routes:
    - matchers: [severity=critical]
      receiver: pager
      group_wait: 0s
      continue: true
    - matchers: [severity=critical]
      receiver: team
    - matchers: [team=quiet]
      receiver: team
      send_resolved: false
receivers:
  - name: team
    drills: true
    webhook: {url: {env: X}}
  - name: pager
    webhook: {url: {env: X}}
inhibit_rules:
  - source_matchers: [rule=node-crash]
    target_matchers: [rule=rpc-timeouts]
    equal: [cluster, node]
`

type env struct {
	t     *testing.T
	d     *dispatch.Dispatcher
	recv  map[string]*notifytest.Receiver
	store *dispatch.MemoryStore
	dead  *notifytest.DeadLetters
}

// start runs a dispatcher with recording receivers; setup, if given, sets
// each receiver up before the dispatcher sees it.
func start(t *testing.T, yaml string, store *dispatch.MemoryStore, mute dispatch.Muter, setup ...func(*notifytest.Receiver)) *env {
	t.Helper()
	r, probs := route.Parse("routing.yaml", []byte(yaml))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	e := &env{t: t, recv: map[string]*notifytest.Receiver{}, store: store, dead: &notifytest.DeadLetters{}}
	var targets []dispatch.Target
	for _, rc := range r.Receivers {
		rec := notifytest.NewReceiver(rc.Name)
		for _, f := range setup {
			f(rec)
		}
		e.recv[rc.Name] = rec
		targets = append(targets, dispatch.Target{Receiver: rec, Drills: rc.TakesDrills(), Coalesce: 1,
			Backoff: notify.Backoff{Initial: time.Second, Max: time.Second, MaxElapsed: 3 * time.Second}})
	}
	d, err := dispatch.New(dispatch.Options{Routing: r, Targets: targets, Store: store, Silences: mute, Dead: e.dead})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.d = d
	t.Cleanup(d.Close)
	return e
}

// ingest hands a over and waits until it is stored.
func (e *env) ingest(a *alert.Alert) {
	e.t.Helper()
	done := make(chan error, 1)
	e.d.Ingest(a, func(err error) { done <- err })
	if err := <-done; err != nil {
		e.t.Fatal(err)
	}
	synctest.Wait()
}

// sent describes what receiver got: one line per message.
func (e *env) sent(receiver string) []string {
	var out []string
	for _, n := range e.recv[receiver].Sent() {
		for _, m := range n.Messages {
			var b strings.Builder
			for _, a := range m.Firing {
				fmt.Fprintf(&b, "+%s ", a.Labels["node"])
			}
			for _, a := range m.Resolved {
				fmt.Fprintf(&b, "-%s ", a.Labels["node"])
			}
			if m.Repeat {
				b.WriteString("(repeat)")
			}
			out = append(out, strings.TrimSpace(b.String()))
		}
	}
	return out
}

func (e *env) wantSent(receiver string, want ...string) {
	e.t.Helper()
	got := e.sent(receiver)
	if strings.Join(got, " | ") != strings.Join(want, " | ") {
		e.t.Fatalf("%s got %q, want %q", receiver, got, want)
	}
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func mk(rule, severity, node string, state alert.State, created time.Time) *alert.Alert {
	fp := alert.Fingerprint(rule, node)
	return &alert.Alert{
		ID: alert.MakeID(fp, t0, state), Fingerprint: fp, Rule: rule, Severity: severity, State: state,
		Labels: map[string]string{"cluster": "c1", "node": node}, Summary: rule + " " + node,
		StartsAt: t0, WindowStart: t0, CreatedAt: created,
	}
}

func TestGrouping(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil)
		e.ingest(mk("dns-timeouts", "warning", "n1", alert.Firing, time.Now()))
		time.Sleep(10 * time.Second)
		e.ingest(mk("dns-timeouts", "warning", "n2", alert.Firing, time.Now()))
		time.Sleep(19 * time.Second)
		synctest.Wait()
		e.wantSent("team") // group_wait not over
		time.Sleep(time.Second)
		synctest.Wait()
		e.wantSent("team", "+n1 +n2")

		// A new alert joins: it waits for group_interval after the first flush.
		time.Sleep(time.Minute)
		e.ingest(mk("dns-timeouts", "warning", "n3", alert.Firing, time.Now()))
		time.Sleep(4*time.Minute - time.Second)
		synctest.Wait()
		e.wantSent("team", "+n1 +n2")
		time.Sleep(time.Second)
		synctest.Wait()
		e.wantSent("team", "+n1 +n2", "+n1 +n2 +n3")

		// Nothing changes: the next message is the reminder after repeat_interval.
		time.Sleep(55 * time.Minute)
		synctest.Wait()
		e.wantSent("team", "+n1 +n2", "+n1 +n2 +n3")
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		e.wantSent("team", "+n1 +n2", "+n1 +n2 +n3", "+n1 +n2 +n3 (repeat)")
	})
}

func TestCriticalZeroWaitContinue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil)
		e.ingest(mk("node-crash", "critical", "n1", alert.Firing, time.Now()))
		e.wantSent("pager", "+n1") // at once, no time passed
		e.wantSent("team")
		time.Sleep(30 * time.Second)
		synctest.Wait()
		e.wantSent("team", "+n1") // continue: also the team route, with its wait
	})
}

func TestDedupAndStale(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil)
		a := mk("node-crash", "critical", "n1", alert.Firing, time.Now())
		e.ingest(a)
		dup := *a
		e.ingest(&dup) // redelivered
		time.Sleep(10 * time.Minute)
		e.ingest(mk("node-crash", "critical", "n1", alert.Resolved, time.Now()))
		old := *a // an old firing redelivered after the resolve
		e.ingest(&old)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		e.wantSent("pager", "+n1", "-n1")
		if n, l := e.store.Counts(); n != 0 || l != 0 {
			t.Errorf("store keeps %d alerts and %d logs after the resolve notice", n, l)
		}
		e.ingest(&old) // and once more after everything was forgotten
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		e.wantSent("pager", "+n1", "-n1")
	})
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name     string
		team     string
		resolve  time.Duration // after the firing
		wantTeam []string
	}{
		{"resolve notice at the next interval", "", 2 * time.Minute, []string{"+n1", "-n1"}},
		{"send_resolved false", "quiet", 2 * time.Minute, []string{"+n1"}},
		{"resolved within group_wait: nothing at all", "", 10 * time.Second, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				e := start(t, routing, dispatch.NewMemoryStore(), nil)
				a := mk("dns-timeouts", "warning", "n1", alert.Firing, time.Now())
				a.Labels["team"] = tt.team
				e.ingest(a)
				time.Sleep(tt.resolve)
				r := mk("dns-timeouts", "warning", "n1", alert.Resolved, time.Now())
				r.Labels["team"] = tt.team
				e.ingest(r)
				time.Sleep(time.Hour)
				synctest.Wait()
				e.wantSent("team", tt.wantTeam...)
				if n, l := e.store.Counts(); n != 0 || l != 0 {
					t.Errorf("store keeps %d alerts and %d logs", n, l)
				}
			})
		})
	}
}

func TestResolveTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil)
		e.ingest(mk("node-crash", "critical", "n1", alert.Firing, time.Now()))
		time.Sleep(6*time.Hour + 2*time.Minute)
		synctest.Wait()
		e.wantSent("pager", "+n1", "+n1 (repeat)", "+n1 (repeat)", "+n1 (repeat)", "+n1 (repeat)", "+n1 (repeat)", "-n1")
		last := e.recv["pager"].Sent()
		res := last[len(last)-1].Messages[0].Resolved[0]
		if !strings.Contains(res.Annotations["resolved_by"], "resolve_timeout") {
			t.Errorf("annotations %v", res.Annotations)
		}
	})
}

func TestDrills(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil)
		a := mk("node-crash", "critical", "n1", alert.Firing, time.Now())
		a.Drill = true
		a.ID += "-drill"
		a.Fingerprint += "-drill"
		e.ingest(a)
		time.Sleep(time.Minute)
		synctest.Wait()
		e.wantSent("pager") // not configured for drills
		e.wantSent("team", "+n1")
		if !e.recv["team"].Sent()[0].Messages[0].Drill {
			t.Error("drill message not marked")
		}

		// No route takes drills: the console shows it.
		b := mk("disk", "warning", "n2", alert.Firing, time.Now())
		b.Drill = true
		b.Receivers = []string{"pager"}
		e2 := start(t, strings.Replace(routing, "    drills: true\n", "", 1), dispatch.NewMemoryStore(), nil)
		e2.ingest(b)
		time.Sleep(time.Minute)
		synctest.Wait()
		e2.wantSent("team")
		e2.wantSent("pager")
		e2.wantSent("console", "+n2")
	})
}

type muter struct {
	mu   sync.Mutex
	node string
}

func (m *muter) set(node string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.node = node
}

func (m *muter) Muted(labels map[string]string, _ time.Time) (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return "s1", m.node != "" && labels["node"] == m.node
}

func TestSilenced(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mu := &muter{node: "n1"}
		e := start(t, routing, dispatch.NewMemoryStore(), mu)
		e.ingest(mk("dns-timeouts", "warning", "n1", alert.Firing, time.Now()))
		e.ingest(mk("dns-timeouts", "warning", "n2", alert.Firing, time.Now()))
		time.Sleep(time.Minute)
		synctest.Wait()
		e.wantSent("team", "+n2")
		mu.set("") // the silence expires: n1 is told at the next interval
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		e.wantSent("team", "+n2", "+n1 +n2")
	})
}

func TestInhibited(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil)
		e.ingest(mk("node-crash", "critical", "n1", alert.Firing, time.Now()))
		e.ingest(mk("rpc-timeouts", "warning", "n1", alert.Firing, time.Now()))
		e.ingest(mk("rpc-timeouts", "warning", "n2", alert.Firing, time.Now()))
		time.Sleep(time.Minute)
		synctest.Wait()
		var team []string
		for _, n := range e.recv["team"].Sent() {
			team = append(team, n.Messages[0].Firing[0].Rule+"@"+n.Messages[0].Firing[0].Labels["node"])
		}
		if strings.Join(team, ",") != "node-crash@n1,rpc-timeouts@n2" && strings.Join(team, ",") != "rpc-timeouts@n2,node-crash@n1" {
			t.Fatalf("team got %v: the timeouts on the crashed node should be inhibited", team)
		}
		e.ingest(mk("node-crash", "critical", "n1", alert.Resolved, time.Now()))
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		found := false
		for _, n := range e.recv["team"].Sent() {
			for _, a := range n.Messages[0].Firing {
				found = found || a.Rule == "rpc-timeouts" && a.Labels["node"] == "n1"
			}
		}
		if !found {
			t.Fatal("timeouts on n1 not told after the crash resolved")
		}
	})
}

// TestInflight: a resolve arriving while the firing message is still being
// delivered is sent after it, once.
func TestInflight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil)
		gate := make(chan struct{})
		e.recv["pager"].Fail = func(_ *notify.Notification, attempt int) error {
			if attempt == 1 {
				<-gate
			}
			return nil
		}
		e.ingest(mk("node-crash", "critical", "n1", alert.Firing, time.Now()))
		e.ingest(mk("node-crash", "critical", "n1", alert.Resolved, time.Now()))
		time.Sleep(6 * time.Minute) // ticks while in flight
		synctest.Wait()
		close(gate)
		synctest.Wait()
		time.Sleep(time.Hour)
		synctest.Wait()
		e.wantSent("pager", "+n1", "-n1")
	})
}

func TestDeadLetterCountsAsTold(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil)
		e.recv["pager"].Fail = func(*notify.Notification, int) error {
			return notify.Permanent("http 404", nil)
		}
		e.ingest(mk("node-crash", "critical", "n1", alert.Firing, time.Now()))
		time.Sleep(30 * time.Minute)
		synctest.Wait()
		if got := len(e.dead.Got()); got != 1 {
			t.Fatalf("%d dead letters in 30m, want 1 (no retry storm)", got)
		}
	})
}

// TestRestart: a second dispatcher on the same store does not repeat what
// was told, and tells what was pending.
func TestRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := dispatch.NewMemoryStore()
		e1 := start(t, routing, store, nil)
		e1.ingest(mk("node-crash", "critical", "n1", alert.Firing, time.Now()))
		time.Sleep(time.Minute)
		e1.ingest(mk("disk", "warning", "n3", alert.Firing, time.Now()))
		time.Sleep(40 * time.Second)
		e1.ingest(mk("disk", "warning", "n3", alert.Resolved, time.Now()))       // resolve owed
		e1.ingest(mk("dns-timeouts", "warning", "n2", alert.Firing, time.Now())) // pending group_wait
		e1.d.Close()
		e1.wantSent("pager", "+n1")
		e1.wantSent("team", "+n1", "+n3")

		e2 := start(t, routing, store, nil)
		time.Sleep(time.Minute)
		synctest.Wait()
		e2.wantSent("pager")
		got := strings.Join(e2.sent("team"), ",")
		if got != "+n2,-n3" && got != "-n3,+n2" {
			t.Fatalf("after restart team got %q, want the pending +n2 and the owed -n3 only", got)
		}
	})
}

// lossyStore loses notification-log writes, as if the router crashed
// after a message was sent and before its delivery was recorded.
type lossyStore struct {
	*dispatch.MemoryStore
	loseLogs bool
}

func (s *lossyStore) PutLog(rec *dispatch.LogRecord) dispatch.Pending {
	if s.loseLogs {
		return dispatch.Failed{}
	}
	return s.MemoryStore.PutLog(rec)
}

// TestCrashBetweenSendAndRecord: a send whose record was lost is repeated
// once after the restart, and only once.
func TestCrashBetweenSendAndRecord(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &lossyStore{MemoryStore: dispatch.NewMemoryStore(), loseLogs: true}
		r, _ := route.Parse("routing.yaml", []byte(routing))
		run := func() *notifytest.Receiver {
			pager := notifytest.NewReceiver("pager")
			var targets []dispatch.Target
			for _, rc := range r.Receivers {
				var recv notify.Receiver = notifytest.NewReceiver(rc.Name)
				if rc.Name == "pager" {
					recv = pager
				}
				targets = append(targets, dispatch.Target{Receiver: recv, Coalesce: 1, Backoff: notify.Backoff{Initial: time.Second, Max: time.Second, MaxElapsed: time.Minute}})
			}
			d, err := dispatch.New(dispatch.Options{Routing: r, Targets: targets, Store: store})
			if err != nil {
				t.Fatal(err)
			}
			if err := d.Start(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(d.Close)
			if store.loseLogs {
				done := make(chan error, 1)
				d.Ingest(mk("node-crash", "critical", "n1", alert.Firing, time.Now()), func(err error) { done <- err })
				<-done
			}
			time.Sleep(time.Minute)
			synctest.Wait()
			d.Close()
			return pager
		}
		if got := len(run().Sent()); got != 1 {
			t.Fatalf("first run sent %d", got)
		}
		store.loseLogs = false
		if got := len(run().Sent()); got != 1 {
			t.Fatalf("after the crash: %d messages, want exactly one duplicate", got)
		}
		if got := len(run().Sent()); got != 0 {
			t.Fatalf("after a clean restart: %d messages, want none", got)
		}
	})
}

// TestRuleReceivers: receivers named by the rule are added to the tree's
// choice, with the timing of the first matching route; unknown ones are
// skipped, not fatal.
func TestRuleReceivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil)
		a := mk("disk-full", "warning", "n4", alert.Firing, time.Now())
		a.Receivers = []string{"pager", "nobody"}
		e.ingest(a)
		time.Sleep(29 * time.Second)
		synctest.Wait()
		e.wantSent("pager") // the team route's 30s wait applies
		time.Sleep(time.Second)
		synctest.Wait()
		e.wantSent("pager", "+n4")
		e.wantSent("team", "+n4")
	})
}

package router_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/router"
)

const stormRule = `rules:
  - name: dns-storm
    severity: warning
    match: event.type == "dns.timeout"
    group_by: [event.cluster]
    window: 10m
    condition: window.count() >= 5
    summary: '{{ .window.count }} DNS timeouts in {{ .key.cluster }}'
`

func dnsTimeout(id, node string, at time.Time) []byte {
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"test","type":"dns.timeout","time":%q,"cluster":"prod","node":%q,"data":{"server":"10.0.0.10","name":"kubernetes.default","transport":"udp","timeout_ms":2000,"count":1,"first":%q,"last":%q}}`,
		id, at.UTC().Format(time.RFC3339Nano), node, at.UTC().Format(time.RFC3339Nano), at.UTC().Format(time.RFC3339Nano))
}

func alertsOf(tb testing.TB, js jetstream.JetStream, rule string) []*alert.Alert {
	tb.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*alert.Alert
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		a, err := alert.Decode(m.Data)
		if err == nil && a.Rule == rule {
			out = append(out, a)
		}
	}
	return out
}

func caughtUp(tb testing.TB, js jetstream.JetStream) func() bool {
	return func() bool {
		cons, err := js.Consumer(context.Background(), bus.StreamEvents, "router")
		if err != nil {
			return false
		}
		info, err := cons.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	}
}

// TestRestartRebuildsWindows: three timeouts before a restart and two after
// make five in the window only if the restart read the first three back;
// a second restart must not count them twice, and the durable consumer's
// position is left as it was.
func TestRestartRebuildsWindows(t *testing.T) {
	s := bustest.Server(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "storm.yaml"), stormRule)
	pub := bustest.Connect(t, s)
	now := time.Now()

	r1 := startRouter(t, s, dir, &syncBuffer{})
	for i := range 3 {
		publish(t, pub.JS, "events.prod.n1.dns", "", dnsTimeout(fmt.Sprintf("01REBUILD%016d", i), "n1", now.Add(time.Duration(i)*time.Second)))
	}
	bustest.Eventually(t, "three events consumed", caughtUp(t, pub.JS))
	r1.Close()

	cons, err := pub.JS.Consumer(context.Background(), bus.StreamEvents, "router")
	if err != nil {
		t.Fatal(err)
	}
	before, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r2 := startRouter(t, s, dir, &syncBuffer{})
	after, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after.AckFloor.Stream != before.AckFloor.Stream || after.Delivered.Stream != before.Delivered.Stream {
		t.Fatalf("rebuild moved the durable consumer: %+v → %+v", before.AckFloor, after.AckFloor)
	}
	r2.Close()
	startRouter(t, s, dir, &syncBuffer{}) // a second restart: still three, not six

	for i := 3; i < 5; i++ {
		publish(t, pub.JS, "events.prod.n1.dns", "", dnsTimeout(fmt.Sprintf("01REBUILD%016d", i), "n1", now.Add(time.Duration(i)*time.Second)))
	}
	bustest.Eventually(t, "storm alert", func() bool { return len(alertsOf(t, pub.JS, "dns-storm")) > 0 })
	as := alertsOf(t, pub.JS, "dns-storm")
	if len(as) != 1 || as[0].Summary != "5 DNS timeouts in prod" {
		t.Fatalf("alerts %+v", as)
	}
}

// TestDeliveredButUnackedIsProcessedOnce: an event delivered to the
// durable consumer but never acked (a crash before the ack) is processed by
// the next start's rebuild, its alert published once, and its redelivery
// skipped.
func TestDeliveredButUnackedIsProcessedOnce(t *testing.T) {
	s := bustest.Server(t)
	rules := rulesDir(t)
	pub := bustest.Connect(t, s)
	// A short ack wait so the unacked delivery comes back quickly.
	start := func(console *syncBuffer) *router.Router {
		r, err := router.Start(context.Background(), router.Options{
			NATS: bus.Options{URL: s.ClientURL()}, RulesDir: rules, HTTPAddr: "127.0.0.1:0",
			Console: console, StateDir: t.TempDir(), AckWait: time.Second,
		}, bustest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		return r
	}
	r1 := start(&syncBuffer{})
	publish(t, pub.JS, "events.dev.n1.app", "", testEvent("01UNACKED00000000000000001", "n1", "first", time.Now()))
	bustest.Eventually(t, "first consumed", caughtUp(t, pub.JS))
	r1.Close()

	publish(t, pub.JS, "events.dev.n1.app", "", testEvent("01UNACKED00000000000000002", "n1", "crashed before ack", time.Now()))
	cons, err := pub.JS.Consumer(context.Background(), bus.StreamEvents, "router")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range batch.Messages() { // delivered, never acked
		_ = m
	}
	console := &syncBuffer{}
	r2 := start(console)
	bustest.Eventually(t, "alert of the unacked event", func() bool {
		return strings.Contains(console.String(), "crashed before ack")
	})
	bustest.Eventually(t, "redelivery acked", caughtUp(t, pub.JS))
	n := 0
	for _, a := range alertsOf(t, pub.JS, "pipeline-test") {
		if strings.Contains(a.Summary, "crashed before ack") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d alerts for the unacked event, want 1", n)
	}
	if got := metric(t, r2, `aftershock_router_events_total{outcome="duplicate"}`); got != "1" {
		t.Fatalf("duplicate deliveries skipped: %q, want 1", got)
	}
}

func metric(tb testing.TB, r *router.Router, name string) string {
	tb.Helper()
	resp, err := http.Get("http://" + r.HTTPAddr() + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			return strings.TrimPrefix(line, name+" ")
		}
	}
	return ""
}

// TestReloadGoodAndBad edits the rules under a running router: a good
// edit is picked up by the file watcher, a bad one is rejected (old rules
// keep firing, a metric and an alert say so), and fixing it resolves the
// alert.
func TestReloadGoodAndBad(t *testing.T) {
	s := bustest.Server(t)
	dir := rulesDir(t)
	console := &syncBuffer{}
	r := startRouter(t, s, dir, console)
	js := r.Conn().JS

	extra := filepath.Join(dir, "extra.yaml")
	writeFile(t, extra, `rules:
  - name: extra-test
    severity: info
    match: event.type == "aftershock.test" && event.data.message == "for extra"
    summary: 'extra rule saw {{ .event.data.message }}'
`)
	bustest.Eventually(t, "good reload", func() bool { return metric(t, r, `aftershock_router_rules_reloads_total{outcome="success"}`) == "1" })
	publish(t, js, "events.dev.n1.app", "", testEvent("01RELOAD000000000000000001", "n1", "for extra", time.Now()))
	bustest.Eventually(t, "new rule fires", func() bool { return strings.Contains(console.String(), "extra rule saw for extra") })

	writeFile(t, extra, "rules:\n  - name: extra-test\n    severity: loud\n")
	bustest.Eventually(t, "bad reload counted", func() bool { return metric(t, r, `aftershock_router_rules_reloads_total{outcome="failure"}`) == "1" })
	if got := metric(t, r, "aftershock_router_rules_last_reload_success"); got != "0" {
		t.Fatalf("last_reload_success %q", got)
	}
	bustest.Eventually(t, "reload alert", func() bool { return len(alertsOf(t, js, router.ReloadAlertRule)) == 1 })
	if a := alertsOf(t, js, router.ReloadAlertRule)[0]; a.State != alert.Firing || !strings.Contains(a.Details, `unknown severity "loud"`) {
		t.Fatalf("reload alert %+v", a)
	}
	publish(t, js, "events.dev.n1.app", "", testEvent("01RELOAD000000000000000002", "n1", "old rules still run", time.Now()))
	bustest.Eventually(t, "old rules still fire", func() bool { return strings.Contains(console.String(), "old rules still run") })

	if err := os.Remove(extra); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "reload alert resolved", func() bool {
		as := alertsOf(t, js, router.ReloadAlertRule)
		return len(as) == 2 && as[1].State == alert.Resolved
	})
	if got := metric(t, r, "aftershock_router_rules_last_reload_success"); got != "1" {
		t.Fatalf("last_reload_success %q after the fix", got)
	}
}

// TestSIGHUPReloads runs the router as main does, with the file watcher
// off, and reloads on SIGHUP.
func TestSIGHUPReloads(t *testing.T) {
	s := bustest.Server(t)
	dir := rulesDir(t)
	console := &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- router.Run(ctx, router.Options{NATS: bus.Options{URL: s.ClientURL()}, RulesDir: dir, HTTPAddr: "127.0.0.1:0", Console: console, StateDir: t.TempDir(), NoRulesWatch: true}, bustest.Logger(t))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
	})
	pub := bustest.Connect(t, s)
	bustest.Eventually(t, "router consuming", func() bool {
		_, err := pub.JS.Consumer(context.Background(), bus.StreamEvents, "router")
		return err == nil
	})
	writeFile(t, filepath.Join(dir, "test.yaml"), strings.Replace(testRules, "test event from", "reloaded: event from", 1))
	publish(t, pub.JS, "events.dev.n1.app", "", testEvent("01HUP00000000000000000000A", "n1", "before", time.Now()))
	bustest.Eventually(t, "old rule fires before SIGHUP", func() bool { return strings.Contains(console.String(), "test event from n1: before") })
	if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "reloaded rule fires", func() bool {
		publish(t, pub.JS, "events.dev.n1.app", "", testEvent(fmt.Sprintf("01HUP%021d", time.Now().UnixNano()%1e15), "n1", "hup", time.Now()))
		time.Sleep(100 * time.Millisecond)
		return strings.Contains(console.String(), "reloaded: event from n1")
	})
}

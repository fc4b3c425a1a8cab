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
	"github.com/aftershock/aftershock/internal/event"
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

	r1 := startRouter(t, s, dir, &bustest.Buffer{})
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
	r2 := startRouter(t, s, dir, &bustest.Buffer{})
	after, err := cons.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if after.AckFloor.Stream != before.AckFloor.Stream || after.Delivered.Stream != before.Delivered.Stream {
		t.Fatalf("rebuild moved the durable consumer: %+v → %+v", before.AckFloor, after.AckFloor)
	}
	r2.Close()
	startRouter(t, s, dir, &bustest.Buffer{}) // a second restart: still three, not six

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
	start := func(console *bustest.Buffer) *router.Router {
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
	r1 := start(&bustest.Buffer{})
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
	console := &bustest.Buffer{}
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
	// The redelivery is acked, then counted: the ack may be seen first.
	var got string
	bustest.Eventually(t, "the redelivery counted", func() bool {
		got = metric(t, r2, `aftershock_router_events_total{outcome="duplicate"}`)
		return got != "" && got != "0"
	})
	if got != "1" {
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
	console := &bustest.Buffer{}
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
	// The failure is counted, then the gauge set: wait for both.
	bustest.Eventually(t, "bad reload counted and last_reload_success 0", func() bool {
		return metric(t, r, `aftershock_router_rules_reloads_total{outcome="failure"}`) == "1" &&
			metric(t, r, "aftershock_router_rules_last_reload_success") == "0"
	})
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
	// The resolve is sent (and may be stored) before the gauge is set.
	bustest.Eventually(t, "last_reload_success 1 after the fix", func() bool {
		return metric(t, r, "aftershock_router_rules_last_reload_success") == "1"
	})
}

// TestSIGHUPReloads runs the router as main does, with the file watcher
// off, and reloads on SIGHUP.
func TestSIGHUPReloads(t *testing.T) {
	s := bustest.Server(t)
	dir := rulesDir(t)
	console := &bustest.Buffer{}
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

// TestIncidentDrillThroughJetStream replays the 2020-06-14 crash on the
// drill namespace through a real JetStream and the shipped rule pack: the
// node's posture, DNS timeouts on other nodes, then its reboot reported
// after them. The node-crash alert is stored in ALERTS as a drill, in 2020
// time, naming the node, the cause, CoreDNS and the lost kdump evidence;
// live timelines see nothing.
func TestIncidentDrillThroughJetStream(t *testing.T) {
	s := bustest.Server(t)
	r, err := router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: s.ClientURL()}, RulesDir: packDir(t), HTTPAddr: "127.0.0.1:0",
		Console: &bustest.Buffer{}, StateDir: t.TempDir(), NoRulesWatch: true,
	}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	js := r.Conn().JS
	base := time.Date(2020, 6, 14, 13, 0, 0, 0, time.UTC)
	ts := func(d time.Duration) string { return base.Add(d).Format(time.RFC3339Nano) }
	n := 0
	send := func(typ, node string, at time.Duration, data string) {
		n++
		ev := &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("drill-0614-%04d", n), Source: "drill", Type: typ,
			Time: base.Add(at), Cluster: "prod", Node: node, Subject: node, Data: []byte(data)}
		b, err := ev.Encode()
		if err != nil {
			t.Fatal(err)
		}
		publish(t, js, ev.NATSSubject(true), ev.ID, b)
	}
	send("node.posture", "172.21.128.138", -time.Hour, `{"boot_id":"b1","kernel_release":"4.4.0-104-generic","os":"Ubuntu 16.04.1 LTS","arch":"amd64",`+
		`"kdump":{"ready":false,"crash_loaded":false},"pods":[{"namespace":"kube-system","name":"coredns-6d4b75cb6d-x2x7q","uid":"u1"}]}`)
	for i := range 24 {
		at := 14*time.Minute + 40*time.Second + time.Duration(i)*5*time.Second
		send("dns.timeout", fmt.Sprintf("172.21.128.%d", 10+i%6), at,
			fmt.Sprintf(`{"server":"10.96.0.10","name":"kubernetes.default","transport":"udp","timeout_ms":2000,"count":2,"first":%q,"last":%q}`, ts(at), ts(at)))
	}
	send("node.reboot", "172.21.128.138", 16*time.Minute, fmt.Sprintf(`{"previous_boot_id":"b1","boot_id":"b2","boot_time":%q,"last_heartbeat":%q,`+
		`"clean":false,"cause":"kernel_bug","cause_detail":"kernel BUG at include/linux/fs.h:2582!","previous_kernel":"4.4.0-104-generic",`+
		`"meminfo":{"mem_total_kb":16266500,"mem_free_kb":3250000,"mem_available_kb":12860000,"cached_kb":13000000}}`, ts(15*time.Minute+6*time.Second), ts(14*time.Minute+30*time.Second)))

	bustest.Eventually(t, "node-crash drill alert", func() bool { return len(alertsOf(t, js, "node-crash")) > 0 })
	a := alertsOf(t, js, "node-crash")[0]
	for _, want := range []string{"node 172.21.128.138 crashed", "fs.h:2582", "not memory exhaustion", "48 DNS/RPC timeouts on 6 nodes that followed"} {
		if !strings.Contains(a.Summary, want) {
			t.Errorf("summary %q lacks %q", a.Summary, want)
		}
	}
	if want := base.Add(14*time.Minute + 30*time.Second); !a.Since.Equal(want) {
		t.Errorf("since %s, want the crashed node's last heartbeat %s", a.Since, want)
	}
	if !a.Drill || a.Subject() != "alerts.drill.node-crash" || !a.StartsAt.Before(base.Add(time.Hour)) {
		t.Errorf("alert drill=%v subject=%s starts=%s", a.Drill, a.Subject(), a.StartsAt)
	}
	if !strings.Contains(a.Annotations["dns"], "CoreDNS") || !strings.Contains(a.Annotations["kdump"], "evidence is lost") ||
		!strings.Contains(a.Annotations["known_bug"], "+bug/1653498") {
		t.Errorf("annotations %v", a.Annotations)
	}
	if len(a.Evidence) == 0 || a.EvidenceSeen < 25 || !strings.HasPrefix(a.RulesVersion, "git:") && !strings.HasPrefix(a.RulesVersion, "sha256:") {
		t.Errorf("evidence %d of %d, version %q", len(a.Evidence), a.EvidenceSeen, a.RulesVersion)
	}
	for _, tl := range []string{"live"} {
		if got := metric(t, r, fmt.Sprintf(`aftershock_router_timeline_groups{timeline=%q}`, tl)); got != "0" {
			t.Errorf("live timeline holds %s groups after a drill", got)
		}
	}
}

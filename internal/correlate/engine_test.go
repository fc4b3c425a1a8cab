package correlate

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

var t0 = time.Date(2020, 6, 14, 13, 0, 0, 0, time.UTC)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// compile builds a rule set from YAML text.
func compile(tb testing.TB, yml string) *rule.Set {
	tb.Helper()
	env, err := rule.SharedEnv()
	if err != nil {
		tb.Fatal(err)
	}
	f, probs := rule.Parse("test.yaml", []byte(yml))
	if len(probs) > 0 {
		tb.Fatalf("parse: %v", probs)
	}
	set, probs := rule.Compile(env, &rule.Pack{Rules: f.Rules, Tables: f.Tables}, rule.CheckOptions{})
	if len(probs) > 0 {
		tb.Fatalf("compile: %v", probs)
	}
	set.Version = "test"
	return set
}

func newEngine(tb testing.TB, yml string) *Engine {
	return New(compile(tb, yml), quiet(), Options{Now: func() time.Time { return t0 }})
}

var seq int

func ev(typ, node string, at time.Duration, data any) *event.Event {
	seq++
	e := &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("e%d", seq), Source: "test", Type: typ,
		Time: t0.Add(at), Cluster: "prod", Node: node}
	if data != nil {
		e.Data, _ = json.Marshal(data)
	}
	return e
}

// feed processes events on the live timeline and returns every alert.
func feed(e *Engine, evs ...*event.Event) []*alert.Alert {
	var out []*alert.Alert
	for _, x := range evs {
		out = append(out, e.Process(x, Meta{})...)
	}
	return out
}

func listAlerts(as []*alert.Alert) string {
	var parts []string
	for _, a := range as {
		at := a.StartsAt
		if a.State == alert.Resolved {
			at = a.EndsAt
		}
		parts = append(parts, fmt.Sprintf("%s/%s/%s@%s", a.Rule, a.GroupKey, a.State, at.Sub(t0)))
	}
	return strings.Join(parts, " ")
}

func want(t *testing.T, got []*alert.Alert, w string) {
	t.Helper()
	if b := listAlerts(got); b != w {
		t.Fatalf("alerts:\n got: %s\nwant: %s", b, w)
	}
}

const thresholdRule = `rules:
  - name: dns-storm
    severity: warning
    match: event.type == "dns.timeout"
    group_by: [event.cluster]
    window: 1m
    lateness: 30s
    condition: window.count() >= 10
    summary: '{{ .window.count }} DNS timeouts on {{ .window.nodes }} nodes in {{ .key.cluster }}'
`

func TestWindowThresholdFiresAndResolves(t *testing.T) {
	e := newEngine(t, thresholdRule)
	var got []*alert.Alert
	// 5 events carrying count 2 each: 10 occurrences within a minute.
	for i := range 5 {
		got = append(got, feed(e, ev("dns.timeout", fmt.Sprintf("n%d", i), time.Duration(i)*10*time.Second, map[string]any{"count": 2}))...)
	}
	want(t, got, "dns-storm/prod/firing@40s")
	if got[0].Summary != "10 DNS timeouts on 5 nodes in prod" {
		t.Errorf("summary %q", got[0].Summary)
	}
	// Other clusters' events move the clock; the window passes the oldest
	// record (0s) at 60s, seen once the watermark (clock − 30s lateness) gets there.
	got = feed(e, ev("node.heartbeat", "x", 89*time.Second, nil))
	want(t, got, "")
	got = feed(e, ev("node.heartbeat", "x", 91*time.Second, nil))
	want(t, got, "dns-storm/prod/resolved@1m0s")
}

func TestUnmatchedEventAllocatesNothing(t *testing.T) {
	e := newEngine(t, thresholdRule)
	x := ev("node.heartbeat", "n1", 0, map[string]any{"boot_id": "b"})
	allocs := testing.AllocsPerRun(1000, func() {
		x.Time = x.Time.Add(time.Millisecond)
		e.Process(x, Meta{})
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per unmatched event, want 0", allocs)
	}
}

const crashRule = `rules:
  - name: node-silent
    severity: warning
    match: event.type == "node.heartbeat"
    group_by: [event.cluster, event.node]
    absent_for: 60s
    lateness: 20s
    summary: 'node {{ .key.node }} silent'
  - name: node-crash
    severity: critical
    match: >
      (event.type == "node.reboot" && !event.data.clean) ||
      (event.type == "aftershock.alert" && event.data.rule == "node-silent" && event.data.state == "firing") ||
      event.type in ["dns.timeout", "rpc.timeout"]
    at: >
      event.type == "node.reboot" && has(event.data.last_heartbeat) ? event.data.last_heartbeat :
      event.type == "aftershock.alert" ? event.data.last_seen : event.time
    group_by: [event.cluster]
    window: 10m
    lateness: 1m
    condition: window.followed_by(["node.reboot", "aftershock.alert"], ["dns.timeout", "rpc.timeout"]) >= 20
    values:
      crashed: window.node_names(["node.reboot"])
    summary: 'crash of {{ join .values.crashed ", " }}: {{ .window.count }} events'
`

func TestSequenceCrashReportedAfterTheTimeouts(t *testing.T) {
	e := newEngine(t, crashRule)
	var got []*alert.Alert
	// Timeouts from 13:14:40 on 5 nodes, 4 each, rolled up with count 1.
	for i := range 20 {
		got = append(got, feed(e, ev("dns.timeout", fmt.Sprintf("n%d", i%5), 14*time.Minute+40*time.Second+time.Duration(i)*time.Second, map[string]any{"count": 1}))...)
	}
	want(t, got, "")
	// The crashed node reports its reboot at 13:17, after the timeouts it
	// caused, saying it was last alive at 13:14:38.
	got = feed(e, ev("node.reboot", "node138", 17*time.Minute, map[string]any{
		"clean": false, "cause": "kernel_bug", "last_heartbeat": t0.Add(14*time.Minute + 38*time.Second)}))
	want(t, got, "node-crash/prod/firing@14m59s")
	if !strings.HasPrefix(got[0].Summary, "crash of node138: 21 events") {
		t.Errorf("summary %q", got[0].Summary)
	}
}

func TestSequenceNeedsTheCrashFirst(t *testing.T) {
	e := newEngine(t, crashRule)
	var got []*alert.Alert
	for i := range 20 {
		got = append(got, feed(e, ev("dns.timeout", "n1", time.Duration(i)*time.Second, map[string]any{"count": 1}))...)
	}
	// A crash after the timeouts does not explain them.
	got = append(got, feed(e, ev("node.reboot", "n9", time.Minute, map[string]any{"clean": false, "last_heartbeat": t0.Add(50 * time.Second)}))...)
	want(t, got, "")
}

func TestAbsenceOnWatermarkFromOtherNodes(t *testing.T) {
	e := newEngine(t, crashRule)
	var got []*alert.Alert
	for s := 0; s <= 200; s += 10 {
		got = append(got, feed(e, ev("node.heartbeat", "a", time.Duration(s)*time.Second, nil))...)
		if s <= 30 {
			got = append(got, feed(e, ev("node.heartbeat", "b", time.Duration(s)*time.Second, nil))...)
		}
	}
	// b was last heard at 30s: absent from 90s, judged once the clock
	// passes 90s + 20s lateness (a's heartbeat at 110s).
	want(t, got, "node-silent/prod/b/firing@1m30s")
	got = feed(e, ev("node.heartbeat", "b", 205*time.Second, nil))
	want(t, got, "node-silent/prod/b/resolved@3m25s")
}

func TestAbsenceWhenEverythingIsQuiet(t *testing.T) {
	e := newEngine(t, crashRule)
	feed(e, ev("node.heartbeat", "a", 0, nil))
	if got := e.Advance(t0.Add(79 * time.Second)); len(got) != 0 {
		t.Fatalf("fired before absent_for + lateness: %s", listAlerts(got))
	}
	want(t, e.Advance(t0.Add(81*time.Second)), "node-silent/prod/a/firing@1m0s")
}

func TestNodeSilentThenTimeoutsIsACrash(t *testing.T) {
	e := newEngine(t, crashRule)
	var got []*alert.Alert
	got = append(got, feed(e, ev("node.heartbeat", "coredns-node", 0, nil))...)
	for i := range 30 {
		at := 5*time.Second + time.Duration(i)*3*time.Second
		got = append(got, feed(e, ev("dns.timeout", fmt.Sprintf("n%d", i%3), at, map[string]any{"count": 1}))...)
		got = append(got, feed(e, ev("node.heartbeat", "other", at, nil))...)
	}
	// coredns-node silent since 0s: absent at 60s, judged at 80s; the
	// derived aftershock.alert sits at its last heartbeat, before the
	// timeouts, so the crash rule sees the sequence.
	want(t, got, "node-silent/prod/coredns-node/firing@1m0s node-crash/prod/firing@1m20s")
}

func TestLateEventCountedNotEvaluated(t *testing.T) {
	e := newEngine(t, thresholdRule)
	feed(e, ev("node.heartbeat", "x", 10*time.Minute, nil))
	// Window 1m, lateness 30s: anything before 10m − 1m30s is late.
	got := feed(e, ev("dns.timeout", "n1", 8*time.Minute, map[string]any{"count": 50}))
	want(t, got, "")
	if st := e.Stats().Rules["dns-storm"]; st.Late != 1 || st.Matched != 1 {
		t.Fatalf("stats %+v, want one late event", st)
	}
	// Within lateness it still counts.
	got = feed(e, ev("dns.timeout", "n1", 8*time.Minute+31*time.Second, map[string]any{"count": 50}))
	want(t, got, "dns-storm/prod/firing@8m31s")
}

func TestTimelinesAreSeparate(t *testing.T) {
	e := newEngine(t, thresholdRule)
	// Live is in 2026; a drill replays 2020. Neither makes the other late.
	live := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var got []*alert.Alert
	for i := range 5 {
		x := ev("dns.timeout", "n1", 0, map[string]any{"count": 1})
		x.Time = live.Add(time.Duration(i) * time.Second)
		got = append(got, e.Process(x, Meta{})...)
		d := ev("dns.timeout", "n1", time.Duration(i)*time.Second, map[string]any{"count": 2})
		got = append(got, e.Process(d, Meta{Drill: true})...)
	}
	if len(got) != 1 || !got[0].Drill || got[0].StartsAt != t0.Add(4*time.Second) {
		t.Fatalf("want one drill alert at +4s, got %s", listAlerts(got))
	}
	if st := e.Stats().Rules["dns-storm"]; st.Late != 0 {
		t.Fatalf("late %d: timelines leaked into each other", st.Late)
	}
	// Five more live events make 10: live fires on its own.
	for i := 5; i < 10; i++ {
		x := ev("dns.timeout", "n1", 0, map[string]any{"count": 1})
		x.Time = live.Add(time.Duration(i) * time.Second)
		got = e.Process(x, Meta{})
	}
	if len(got) != 1 || got[0].Drill || got[0].Fingerprint == "" {
		t.Fatalf("live alert %s", listAlerts(got))
	}
}

func TestDrillReplaySameAlertsAsLive(t *testing.T) {
	run := func(drill bool) string {
		e := newEngine(t, crashRule)
		var out []string
		seq = 0
		for i := range 25 {
			x := ev("dns.timeout", fmt.Sprintf("n%d", i%4), time.Duration(i)*2*time.Second, map[string]any{"count": 1})
			for _, a := range e.Process(x, Meta{Drill: drill}) {
				out = append(out, a.Rule+" "+string(a.State)+" "+a.Summary+" "+a.StartsAt.String())
			}
			if i == 3 {
				r := ev("node.reboot", "n9", 3*time.Minute, map[string]any{"clean": false, "last_heartbeat": t0})
				for _, a := range e.Process(r, Meta{Drill: drill}) {
					out = append(out, a.Rule+" "+string(a.State)+" "+a.Summary+" "+a.StartsAt.String())
				}
			}
		}
		return strings.Join(out, "\n")
	}
	live, drill := run(false), run(true)
	if live == "" || live != drill {
		t.Fatalf("live:\n%s\ndrill:\n%s", live, drill)
	}
}

func TestDrillRunsStartAfterAGap(t *testing.T) {
	e := newEngine(t, thresholdRule)
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	replay := func(arrival time.Time) []*alert.Alert {
		var out []*alert.Alert
		for i := range 10 {
			x := ev("dns.timeout", "n1", time.Duration(i)*time.Second, map[string]any{"count": 1})
			out = append(out, e.Process(x, Meta{Drill: true, Arrival: arrival.Add(time.Duration(i) * time.Millisecond)})...)
		}
		return out
	}
	first := replay(now)
	second := replay(now.Add(time.Hour)) // the same recording, an hour later
	if len(first) != 1 || len(second) != 1 {
		t.Fatalf("first %s, second %s: each run must fire once", listAlerts(first), listAlerts(second))
	}
	if first[0].ID == second[0].ID {
		t.Fatal("two drill runs produced the same alert id: the second would be deduplicated away")
	}
}

func TestRuntimeErrorIsCountedNonMatch(t *testing.T) {
	e := newEngine(t, `rules:
  - name: needs-field
    severity: info
    match: event.type == "aftershock.test" && event.data.message.startsWith("x")
    summary: s
`)
	got := feed(e,
		ev("aftershock.test", "n", 0, map[string]any{"other": 1}),
		ev("aftershock.test", "n", time.Second, map[string]any{"message": "xy"}))
	if len(got) != 1 {
		t.Fatalf("alerts %s", listAlerts(got))
	}
	if n := e.Stats().Rules["needs-field"].EvalErrors; n != 1 {
		t.Fatalf("eval errors %d, want 1", n)
	}
}

func TestStateRule(t *testing.T) {
	e := newEngine(t, `rules:
  - name: kdump-not-ready
    severity: warning
    match: event.type == "node.posture"
    group_by: [event.cluster, event.node]
    condition: has(event.data.kdump) && !event.data.kdump.ready
    summary: kdump not ready on {{ .key.node }}
`)
	got := feed(e,
		ev("node.posture", "a", 0, map[string]any{"kdump": map[string]any{"ready": false}}),
		ev("node.posture", "a", time.Minute, map[string]any{"kdump": map[string]any{"ready": false}}),
		ev("node.posture", "a", 2*time.Minute, map[string]any{"kdump": map[string]any{"ready": true}}),
		ev("node.posture", "a", 30*time.Second, map[string]any{"kdump": map[string]any{"ready": false}}), // stale
	)
	want(t, got, "kdump-not-ready/prod/a/firing@0s kdump-not-ready/prod/a/resolved@2m0s")
}

func TestSwapKeepsStateOfUnchangedRules(t *testing.T) {
	e := newEngine(t, thresholdRule+crashRule[len("rules:\n"):])
	for i := range 9 {
		feed(e, ev("dns.timeout", "n1", time.Duration(i)*time.Second, map[string]any{"count": 1}))
	}
	// Same dns-storm (summary edited), node-silent dropped.
	changed := strings.Replace(thresholdRule, "DNS timeouts", "timeouts", 1)
	feed(e, ev("node.heartbeat", "a", 9*time.Second, nil))
	e.Advance(t0.Add(2 * time.Minute)) // node-silent fires for a
	resolved := e.Swap(compile(t, changed))
	want(t, resolved, "node-silent/prod/a/resolved@2m0s")
	got := feed(e, ev("dns.timeout", "n1", 119*time.Second+500*time.Millisecond, map[string]any{"count": 1}))
	if len(got) != 0 {
		t.Fatalf("unexpected %s", listAlerts(got))
	}
	// The 9 earlier records were kept by the swap, but the clock (2m) has
	// since pushed them out of the 1m window: a fresh run proves state
	// survived by firing on the 10th event within the window.
	e2 := newEngine(t, thresholdRule)
	for i := range 9 {
		feed(e2, ev("dns.timeout", "n1", time.Duration(i)*time.Second, map[string]any{"count": 1}))
	}
	e2.Swap(compile(t, changed))
	got = feed(e2, ev("dns.timeout", "n1", 9*time.Second, map[string]any{"count": 1}))
	if len(got) != 1 || !strings.HasPrefix(got[0].Summary, "10 timeouts") {
		t.Fatalf("after swap: %s (state lost or old template used)", listAlerts(got))
	}
}

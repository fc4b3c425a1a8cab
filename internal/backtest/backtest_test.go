package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// baseline and candidate are two versions of a small rule pack: the
// candidate lowers the DNS threshold, rewords the crash summary, narrows
// OOM to global ones and adds a conntrack rule.
const baseline = `rules:
  - name: dns-storm
    severity: warning
    match: event.type == "dns.timeout"
    group_by: [event.cluster]
    window: 1m
    condition: window.count() >= 10
    summary: '{{ .window.count }} DNS timeouts in {{ .key.cluster }}'
  - name: node-crash
    severity: critical
    match: event.type == "node.reboot" && !event.data.clean
    group_by: [event.cluster, event.node]
    summary: 'node {{ .event.node }} rebooted'
  - name: oom
    severity: critical
    match: event.type == "kernel.oom"
    group_by: [event.id]
    summary: 'OOM on {{ .event.node }} ({{ .event.data.constraint }})'
`

const candidate = `rules:
  - name: dns-storm
    severity: warning
    match: event.type == "dns.timeout"
    group_by: [event.cluster]
    window: 1m
    condition: window.count() >= 5
    summary: '{{ .window.count }} DNS timeouts in {{ .key.cluster }}'
  - name: node-crash
    severity: critical
    match: event.type == "node.reboot" && !event.data.clean
    group_by: [event.cluster, event.node]
    summary: 'node {{ .event.node }} crashed: {{ .event.data.cause }}'
  - name: oom
    severity: critical
    match: event.type == "kernel.oom" && event.data.constraint == "global"
    group_by: [event.id]
    summary: 'OOM on {{ .event.node }} ({{ .event.data.constraint }})'
  - name: conntrack
    severity: warning
    match: event.type == "kernel.conntrack_full"
    group_by: [event.cluster, event.node]
    summary: 'conntrack table full on {{ .event.node }}'
`

func compile(tb testing.TB, name, yml string) RuleSet {
	tb.Helper()
	env, err := rule.SharedEnv()
	if err != nil {
		tb.Fatal(err)
	}
	f, probs := rule.Parse(name+".yaml", []byte(yml))
	if len(probs) > 0 {
		tb.Fatalf("parse: %v", probs)
	}
	set, probs := rule.Compile(env, &rule.Pack{Rules: f.Rules, Tables: f.Tables}, rule.CheckOptions{})
	if len(probs) > 0 {
		tb.Fatalf("compile: %v", probs)
	}
	set.Version = name
	return RuleSet{Name: name, Set: set}
}

type history struct {
	js   jetstream.JetStream
	nc   *nats.Conn
	base time.Time
	n    int
}

// publish stores one event at base+at on its live (or drill) subject.
func (h *history) publish(tb testing.TB, typ, node string, at time.Duration, data any, drill bool) {
	tb.Helper()
	h.n++
	ev, err := event.New(typ, "test", "prod", node, h.base.Add(at), data)
	if err != nil {
		tb.Fatal(err)
	}
	ev.ID = fmt.Sprintf("ev-%04d", h.n)
	h.raw(tb, ev.NATSSubject(drill), ev)
}

func (h *history) raw(tb testing.TB, subject string, v any) {
	tb.Helper()
	b, ok := v.([]byte)
	if !ok {
		var err error
		if b, err = json.Marshal(v); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := h.js.Publish(context.Background(), subject, b); err != nil {
		tb.Fatalf("publish %s: %v", subject, err)
	}
}

// storedHistory publishes a known history. Event times are just behind
// the wall clock, as live events are, so the idle clock (arrival − 10s)
// does not make them late.
func storedHistory(t *testing.T) *history { return fillHistory(t, bustest.Server(t)) }

func fillHistory(t *testing.T, s *server.Server) *history {
	c := bustest.Connect(t, s)
	h := &history{js: c.JS, nc: c.NC, base: time.Now().UTC().Add(-30 * time.Second).Truncate(time.Millisecond)}
	for i := range 12 { // one DNS timeout a second on three nodes
		h.publish(t, event.TypeDNSTimeout, fmt.Sprintf("n%d", i%3), time.Duration(i)*time.Second,
			event.DNSFailure{Server: "10.96.0.10", Name: "kubernetes.default", Transport: "udp", Count: 1}, false)
	}
	h.publish(t, event.TypeReboot, "n7", 13*time.Second, event.Reboot{Clean: false, Cause: event.CauseKernelBug, BootID: "b2"}, false)
	h.publish(t, event.TypeReboot, "n8", 13*time.Second, event.Reboot{Clean: true, Cause: event.CauseClean, BootID: "b3"}, false)
	h.publish(t, event.TypeKernelOOM, "n1", 14*time.Second, event.OOM{Constraint: event.OOMMemcg, VictimComm: "java"}, false)
	h.publish(t, event.TypeKernelOOM, "n2", 15*time.Second, event.OOM{Constraint: event.OOMGlobal, VictimComm: "java"}, false)
	h.publish(t, event.TypeKernelConntrack, "n2", 16*time.Second, event.KernelReport{Signature: "conntrack_full", Count: 3}, false)
	// Not evaluated by default: a drill event, and what the router
	// dead-letters (garbage; an event on another node's subject).
	h.publish(t, event.TypeReboot, "n9", 17*time.Second, event.Reboot{Clean: false, Cause: event.CauseUnknown}, true)
	h.raw(t, "events.prod.n1.kernel", []byte("not json"))
	ev, _ := event.New(event.TypeKernelConntrack, "test", "prod", "n5", h.base, event.KernelReport{Count: 1})
	h.raw(t, "events.prod.n1.kernel", ev)
	return h
}

func (h *history) run(t *testing.T, sets []RuleSet, opts Options) *Result {
	t.Helper()
	if opts.From.IsZero() {
		opts.From = time.Now().Add(-time.Hour)
	}
	opts.Log = bustest.Logger(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := Execute(ctx, h.js, sets, opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// rel describes views relative to the history's base time.
func (h *history) rel(vs []*View) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, fmt.Sprintf("%s/%s/%s@%s", v.Rule, v.GroupKey, v.State, v.StartsAt.Sub(h.base)))
	}
	return strings.Join(parts, " ")
}

func TestAlertsOfOneRuleSet(t *testing.T) {
	h := storedHistory(t)
	res := h.run(t, []RuleSet{compile(t, "baseline", baseline)}, Options{})
	if res.Events != 17 || res.Skipped != 2 {
		t.Fatalf("events %d skipped %d, want 17 and 2", res.Events, res.Skipped)
	}
	got := h.rel(NewReport(res, nil).Sets[0].Alerts)
	want := "dns-storm/prod/firing@9s node-crash/prod/n7/firing@13s oom/ev-0015/firing@14s oom/ev-0016/firing@15s"
	if got != want {
		t.Fatalf("alerts\n got: %s\nwant: %s", got, want)
	}
	if st := res.Runs[0].Stats["dns-storm"]; st.Matched != 12 || st.Fired != 1 {
		t.Errorf("dns-storm stats %+v", st)
	}
	var text bytes.Buffer
	if err := NewReport(res, nil).WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"17 events (2 skipped", "rules baseline (version baseline, 3 rules): 4 alerts (4 firing, 0 resolved)",
		"FIRING  critical  node-crash", "node n7 rebooted", "10 DNS timeouts in prod"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text report lacks %q:\n%s", s, text.String())
		}
	}
}

func TestDrillSubjectsOnDrillTimelines(t *testing.T) {
	h := storedHistory(t)
	res := h.run(t, []RuleSet{compile(t, "baseline", baseline)}, Options{Subjects: []string{SubjectsDrill}})
	vs := NewReport(res, nil).Sets[0].Alerts
	if res.Events != 1 || len(vs) != 1 || !vs[0].Drill || vs[0].Rule != "node-crash" {
		t.Fatalf("drill backtest: %d events, alerts %s", res.Events, h.rel(vs))
	}
}

func TestCompareExactDiff(t *testing.T) {
	h := storedHistory(t)
	res := h.run(t, []RuleSet{compile(t, "candidate", candidate), compile(t, "baseline", baseline)}, Options{})
	d := CompareRuns(res.Runs[1], res.Runs[0])
	checks := []struct{ what, got, want string }{
		{"added", h.rel(d.Added), "dns-storm/prod/firing@4s conntrack/prod/n2/firing@16s"},
		{"removed", h.rel(d.Removed), "dns-storm/prod/firing@9s oom/ev-0015/firing@14s"},
		{"changed", fmt.Sprint(len(d.Changed)), "1"},
		{"unchanged", fmt.Sprint(d.Unchanged), "1"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s\n got: %s\nwant: %s", c.what, c.got, c.want)
		}
	}
	if t.Failed() {
		return
	}
	c := d.Changed[0]
	if c.Key.Rule != "node-crash" || strings.Join(c.Fields, ",") != "summary" ||
		c.Before.Summary != "node n7 rebooted" || c.After.Summary != "node n7 crashed: kernel_bug" {
		t.Fatalf("changed: %+v before %+v after %+v", c, c.Before, c.After)
	}

	var js bytes.Buffer
	if err := NewReport(res, d).WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Events int64 `json:"events"`
		Sets   []struct {
			Dir    string `json:"dir"`
			Alerts []View `json:"alerts"`
		} `json:"rule_sets"`
		Diff struct {
			Baseline, Candidate string
			Added, Removed      []View
			Changed             []struct {
				Key    Key      `json:"key"`
				Fields []string `json:"fields"`
				Before View     `json:"before"`
				After  View     `json:"after"`
			}
			Unchanged int
		} `json:"diff"`
	}
	if err := json.Unmarshal(js.Bytes(), &doc); err != nil {
		t.Fatalf("JSON report: %v\n%s", err, js.String())
	}
	if doc.Events != 17 || len(doc.Sets) != 2 || doc.Sets[0].Dir != "candidate" || len(doc.Sets[0].Alerts) != 4 ||
		doc.Diff.Baseline != "baseline" || doc.Diff.Candidate != "candidate" || len(doc.Diff.Added) != 2 ||
		doc.Diff.Added[1].Rule != "conntrack" || doc.Diff.Added[1].Labels["node"] != "n2" || len(doc.Diff.Removed) != 2 ||
		doc.Diff.Changed[0].After.Summary != "node n7 crashed: kernel_bug" || doc.Diff.Unchanged != 1 {
		t.Fatalf("JSON report:\n%s", js.String())
	}

	var text bytes.Buffer
	if err := NewReport(res, d).WriteText(&text); err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"2 added, 2 removed, 1 changed, 1 unchanged", "+ FIRING", "- FIRING", "~ FIRING",
		`summary: "node n7 rebooted"`, `→  "node n7 crashed: kernel_bug"`} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("text diff lacks %q:\n%s", s, text.String())
		}
	}
}

func TestSameRulesNoDiff(t *testing.T) {
	h := storedHistory(t)
	res := h.run(t, []RuleSet{compile(t, "a", baseline), compile(t, "b", baseline)}, Options{})
	if d := CompareRuns(res.Runs[1], res.Runs[0]); !d.Empty() || d.Unchanged != 4 {
		t.Fatalf("identical rule sets differ: %+v", d)
	}
}

func TestNoSideEffects(t *testing.T) {
	h := storedHistory(t)
	h.run(t, []RuleSet{compile(t, "baseline", baseline)}, Options{})
	ctx := context.Background()
	alerts, err := h.js.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	info, err := alerts.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 0 {
		t.Fatalf("backtest stored %d alerts", info.State.Msgs)
	}
	events, _ := h.js.Stream(ctx, bus.StreamEvents)
	for name := range events.ConsumerNames(ctx).Name() {
		ci, err := events.Consumer(ctx, name)
		if err == nil && ci.CachedInfo().Config.Durable != "" {
			t.Errorf("backtest left durable consumer %s", name)
		}
	}
}

func TestRangeAfterEverything(t *testing.T) {
	h := storedHistory(t)
	res := h.run(t, []RuleSet{compile(t, "baseline", baseline)}, Options{From: time.Now().Add(time.Minute)})
	if res.Events != 0 || len(res.Runs[0].Alerts) != 0 {
		t.Fatalf("empty range read %d events, %d alerts", res.Events, len(res.Runs[0].Alerts))
	}
}

func TestBadOptions(t *testing.T) {
	h := storedHistory(t)
	set := compile(t, "baseline", baseline)
	now := time.Now()
	cases := []struct {
		name string
		sets []RuleSet
		opts Options
		want string
	}{
		{"no from", []RuleSet{set}, Options{}, "from: required"},
		{"until before from", []RuleSet{set}, Options{From: now, Until: now.Add(-time.Hour)}, "before from"},
		{"no rule set", nil, Options{From: now}, "rule sets: none given"},
		{"missing stream", []RuleSet{set}, Options{From: now, Stream: "NOPE"}, "stream NOPE"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Execute(context.Background(), h.js, c.sets, c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

package correlate

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
)

// growthRule updates at most every minute, and at once when the set of
// causes changes.
const growthRule = `rules:
  - name: storm
    severity: critical
    labels: {team: sre, node: '{{ join .values.crashed "," }}'}
    match: event.type in ["dns.timeout", "node.reboot"]
    group_by: [event.cluster]
    window: 10m
    lateness: 10s
    update_every: 1m
    condition: window.count(["dns.timeout"]) >= 3
    since: window.first()
    title: 'storm of {{ .window.events }}'
    values:
      crashed: window.node_names(["node.reboot"])
      causes: events.filter(e, e.type == "node.reboot").map(e, e.data.cause)
    significant:
      causes: 'cause found: {{ join .values.causes ", " }}'
    summary: '{{ .window.events }} events on {{ .window.nodes }} nodes'
    annotations:
      zeta: z
      alpha: a
`

func TestGrowthHeldBackIsPublishedByTheClock(t *testing.T) {
	e := newEngine(t, growthRule)
	var got []*alert.Alert
	for i := range 3 {
		got = append(got, feed(e, ev("dns.timeout", fmt.Sprintf("n%d", i), time.Duration(i)*time.Second, nil))...)
	}
	want(t, got, "storm/prod/firing@2s")
	first := got[0]
	if first.Headline != "storm of 3" || first.Summary != "3 events on 3 nodes" {
		t.Errorf("first page: headline %q summary %q", first.Headline, first.Summary)
	}
	if !first.Since.Equal(t0) {
		t.Errorf("since %s, want the window's first event (%s)", first.Since, t0)
	}
	if !slices.Equal(first.NoteOrder, []string{"zeta", "alpha"}) {
		t.Errorf("note order %q, want the order written", first.NoteOrder)
	}
	// The window doubles within update_every: held back, nothing yet.
	for i := 3; i < 9; i++ {
		got = feed(e, ev("dns.timeout", fmt.Sprintf("n%d", i), 10*time.Second, nil))
		if len(got) > 0 {
			t.Fatalf("update before update_every: %s", listAlerts(got))
		}
	}
	// No event follows: the idle clock passing lastUpdate+1m publishes it.
	if got = e.Advance(t0.Add(61 * time.Second)); len(got) != 0 {
		t.Fatalf("update before its time: %s", listAlerts(got))
	}
	got = e.Advance(t0.Add(63 * time.Second))
	if len(got) != 1 || got[0].Update != 1 {
		t.Fatalf("want update 1 when the clock passes update_every, got %s", listAlerts(got))
	}
	u := got[0]
	if u.Change == nil || u.Change.Significant || len(u.Change.Notes) != 1 || u.Change.Notes[0] != "the window grew from 3 to 9 events and from 3 to 9 nodes" {
		t.Errorf("growth change %+v", u.Change)
	}
	if u.Summary != "9 events on 9 nodes" || u.ID == first.ID {
		t.Errorf("update summary %q id %s (first %s)", u.Summary, u.ID, first.ID)
	}
	// Nothing more has grown: further ticks publish nothing.
	if got = e.Advance(t0.Add(5 * time.Minute)); len(got) != 0 {
		t.Errorf("ticks without growth published %s", listAlerts(got))
	}
}

func TestSignificantChangeIsPublishedAtOnce(t *testing.T) {
	e := newEngine(t, growthRule)
	var got []*alert.Alert
	for i := range 3 {
		got = append(got, feed(e, ev("dns.timeout", fmt.Sprintf("n%d", i), time.Duration(i)*time.Second, nil))...)
	}
	want(t, got, "storm/prod/firing@2s")
	if got[0].Labels["node"] != "" {
		t.Errorf("node label %q before any reboot", got[0].Labels["node"])
	}
	// A reboot placed in the past, a second after the page: far within
	// update_every, and it does not move the clock.
	got = feed(e, ev("node.reboot", "n29", -time.Minute, map[string]any{"cause": "kernel_bug"}))
	if len(got) != 1 || got[0].Update != 1 {
		t.Fatalf("want update 1 at once, got %s", listAlerts(got))
	}
	u := got[0]
	if u.Change == nil || !u.Change.Significant || !slices.Equal(u.Change.Notes, []string{"cause found: kernel_bug"}) || !slices.Equal(u.Change.Values, []string{"causes"}) {
		t.Errorf("change %+v", u.Change)
	}
	if u.Labels["node"] != "n29" || u.Labels["team"] != "sre" {
		t.Errorf("labels %v: want the templated node and the fixed team", u.Labels)
	}
	// The same cause again (another event of the window) is not news.
	if got = feed(e, ev("dns.timeout", "n4", 3*time.Second, nil)); len(got) != 0 {
		t.Errorf("unchanged causes published %s", listAlerts(got))
	}
	// The resolve keeps the rendered labels.
	got = e.Advance(t0.Add(time.Hour))
	if len(got) != 1 || got[0].State != alert.Resolved || got[0].Labels["node"] != "n29" || got[0].Change != nil {
		t.Fatalf("resolve: %s %+v", listAlerts(got), got)
	}
}

func TestEvidenceIsTheKeyEventsAndATally(t *testing.T) {
	e := newEngine(t, growthRule)
	feed(e, ev("node.reboot", "n29", 0, map[string]any{"cause": "panic"}))
	var got []*alert.Alert
	for i := range 40 {
		got = append(got, feed(e, ev("dns.timeout", fmt.Sprintf("n%d", i%4), time.Duration(i+1)*time.Second, map[string]any{"count": 2}))...)
	}
	if len(got) == 0 {
		t.Fatal("no alert")
	}
	a := got[0]
	if len(a.Evidence) > alert.MaxEvidence || a.Evidence[0].Type != "node.reboot" {
		t.Fatalf("evidence %d events, first %s: want at most %d with the reboot first", len(a.Evidence), a.Evidence[0].Type, alert.MaxEvidence)
	}
	if len(a.Tally) != 2 || a.Tally[0].Type != "node.reboot" || a.Tally[1].Type != "dns.timeout" {
		t.Fatalf("tally %+v: want the rare type first", a.Tally)
	}
	// count() adds up occurrences: the second event (2×2) fires it.
	dns := a.Tally[1]
	if dns.Events != 2 || dns.Occurrences != 4 || dns.Nodes != 2 || !dns.First.Equal(t0.Add(time.Second)) || !dns.Last.Equal(t0.Add(2*time.Second)) {
		t.Errorf("dns tally %+v", dns)
	}
	if len(dns.TopNodes) != 2 || dns.TopNodes[0] != (alert.NodeCount{Node: "n0", Events: 1}) {
		t.Errorf("top nodes %+v", dns.TopNodes)
	}
}

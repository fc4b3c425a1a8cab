package webui

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/event"
)

func ev(t *testing.T, typ, node string, at time.Time, data any) event.Event {
	t.Helper()
	b, err := json.Marshal(data)
	if err != nil {
		t.Fatal(err)
	}
	return event.Event{Type: typ, Node: node, Cluster: "c1", Time: at, Data: b}
}

// TestBuildChart: the crashed node's heartbeats and its reboot placed at
// the kernel's death, timeouts per node with counts (a rollup counts
// as its count), the busiest nodes shown and the rest folded, the
// moments in time order, everything inside the plot.
func TestBuildChart(t *testing.T) {
	t0 := time.Date(2021, 11, 1, 19, 0, 0, 0, time.UTC)
	a := &alert.Alert{Rule: "node-crash", Labels: map[string]string{"node": "n0", "cluster": "c1"}, Since: t0.Add(2 * time.Minute),
		StartsAt: t0.Add(3 * time.Minute), WindowEnd: t0.Add(8 * time.Minute)}
	e := &Evidence{}
	e.From, e.To = evidenceRange(a)
	for i := range 8 {
		e.Events = append(e.Events, ev(t, event.TypeHeartbeat, "n0", t0.Add(time.Duration(i)*15*time.Second), map[string]any{}))
		e.Events = append(e.Events, ev(t, event.TypeHeartbeat, "n1", t0.Add(time.Duration(i)*15*time.Second), map[string]any{}))
	}
	for n := range 20 {
		e.Events = append(e.Events, ev(t, event.TypeDNSTimeout, fmt.Sprintf("n%02d", n+1), t0.Add(150*time.Second), map[string]any{"count": 20 - n}))
	}
	e.Events = append(e.Events, ev(t, event.TypeRPCTimeout, "n01", t0.Add(4*time.Minute), map[string]any{"count": 1}))
	e.Events = append(e.Events, ev(t, event.TypeReboot, "n0", t0.Add(7*time.Minute), event.Reboot{Clean: false, CauseDetail: "kernel BUG",
		CauseTime: t0.Add(2*time.Minute + 10*time.Second), LastHeartbeat: t0.Add(105 * time.Second)}))
	c := buildChart(a, e, brief.Clock{})

	if c.Empty != "" {
		t.Fatal(c.Empty)
	}
	var hb, reboot int
	var rebootTitle string
	for _, m := range c.Marks {
		if m.Shape != "diamond" && (m.X < float64(c.PlotX)-10 || m.X > float64(c.PlotX+c.PlotW)+10) {
			t.Errorf("mark %+v outside the plot", m)
		}
		switch m.Class {
		case "hb":
			hb++
		case "reboot":
			reboot++
			rebootTitle = m.Title
		}
	}
	if hb != 8 {
		t.Errorf("%d heartbeat marks, want the crashed node's 8", hb)
	}
	if reboot != 1 || !strings.Contains(rebootTitle, "reported 19:07:00; placed at 19:02:10: kernel BUG") {
		t.Errorf("reboot marks %d %q", reboot, rebootTitle)
	}
	var labels []string
	for _, r := range c.Rows {
		labels = append(labels, r.Label)
	}
	if len(c.Rows) != 2+maxNodeRows || labels[2] != "n01 (21)" || labels[len(labels)-1] != "7 other nodes (28)" {
		t.Errorf("rows %q", labels)
	}
	var moments []string
	for _, m := range c.Lines {
		moments = append(moments, m.Label)
	}
	if got := strings.Join(moments, ", "); got != "began 19:02:00, kernel died 19:02:10, alert fired 19:03:00, cause known 19:07:00" {
		t.Errorf("moments %s", got)
	}
	if len(c.Ticks) < 5 || len(c.Ticks) > 13 {
		t.Errorf("%d axis ticks", len(c.Ticks))
	}
	if empty := buildChart(a, &Evidence{}, brief.Clock{}); !strings.Contains(empty.Empty, "no events") {
		t.Errorf("no evidence: %+v", empty)
	}
}

// TestLinks: URLs in a rule's note become links; everything else,
// kernel text included, stays escaped.
func TestLinks(t *testing.T) {
	got := string(links(`Ubuntu bug: https://bugs.launchpad.net/x?a=1&b=2. <script>alert(1)</script> javascript:alert(1)`))
	want := `Ubuntu bug: <a href="https://bugs.launchpad.net/x?a=1&amp;b=2" rel="noreferrer">https://bugs.launchpad.net/x?a=1&amp;b=2</a>. &lt;script&gt;alert(1)&lt;/script&gt; javascript:alert(1)`
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

package correlate

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
)

// recording is a fixed drill: timeouts on four nodes, then the crashed
// node's reboot, with ids fixed like a file under deploy/drills.
func recording(prefix string) []*event.Event {
	var evs []*event.Event
	for i := range 24 {
		x := ev("dns.timeout", fmt.Sprintf("n%d", i%4), time.Duration(i)*2*time.Second, map[string]any{"count": 1})
		evs = append(evs, x)
	}
	evs = append(evs, ev("node.reboot", "n9", 3*time.Minute, map[string]any{"clean": false, "last_heartbeat": t0}))
	for i, x := range evs {
		x.ID = fmt.Sprintf("%sdrill-%03d", prefix, i)
	}
	return evs
}

func replayAt(e *Engine, evs []*event.Event, arrival time.Time) []*alert.Alert {
	var out []*alert.Alert
	for i, x := range evs {
		out = append(out, e.Process(x, Meta{Drill: true, Arrival: arrival.Add(time.Duration(i) * time.Millisecond)})...)
	}
	return out
}

func ids(as []*alert.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	slices.Sort(out)
	return out
}

func TestRepeatedEventCountedOnce(t *testing.T) {
	e := newEngine(t, thresholdRule)
	var got []*alert.Alert
	for i := range 5 {
		x := ev("dns.timeout", fmt.Sprintf("n%d", i), time.Duration(i)*10*time.Second, map[string]any{"count": 1})
		// Each event delivered twice, as a redelivery or a second replay.
		got = append(got, feed(e, x, x)...)
	}
	want(t, got, "")
	if d := e.Stats().Rules["dns-storm"].Duplicates; d != 5 {
		t.Fatalf("duplicates %d, want 5", d)
	}
	for i := 5; i < 10; i++ {
		got = append(got, feed(e, ev("dns.timeout", "n0", time.Duration(i)*5*time.Second, map[string]any{"count": 1}))...)
	}
	want(t, got, "dns-storm/prod/firing@45s")
	if got[0].Summary != "10 DNS timeouts on 5 nodes in prod" {
		t.Errorf("summary %q", got[0].Summary)
	}
}

func TestSameTimeDifferentIDsBothCount(t *testing.T) {
	e := newEngine(t, thresholdRule)
	var got []*alert.Alert
	for i := range 10 {
		x := ev("dns.timeout", "n1", 0, map[string]any{"count": 1}) // one instant, ten reports
		x.ID = fmt.Sprintf("same-time-%d", i)
		got = append(got, feed(e, x)...)
	}
	want(t, got, "dns-storm/prod/firing@0s")
}

func TestSecondReplayWithinRunGapAddsNothing(t *testing.T) {
	e := newEngine(t, crashRule)
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	first := replayAt(e, recording(""), now)
	if len(first) == 0 {
		t.Fatal("the recording raised no alert")
	}
	// Published again a minute later: the same drill run.
	second := replayAt(e, recording(""), now.Add(time.Minute))
	for _, a := range second {
		if !slices.Contains(ids(first), a.ID) {
			t.Errorf("second replay raised a new alert %s %s %q", a.Rule, a.State, a.Summary)
		}
	}
	if d := e.Stats().Rules["node-crash"].Duplicates; d != 25 {
		t.Errorf("duplicates %d, want 25", d)
	}
}

func TestReplayAfterRunGap(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	e := newEngine(t, crashRule)
	first := replayAt(e, recording(""), now)
	// The same file after the run gap is a new run whose first event has
	// the same id: the same alerts with the same ids, which ALERTS
	// deduplicates (Nats-Msg-Id) within its duplicate window.
	again := replayAt(e, recording(""), now.Add(10*time.Minute))
	if strings.Join(ids(first), " ") != strings.Join(ids(again), " ") {
		t.Fatalf("same file, new run: ids\n%v\n%v", ids(first), ids(again))
	}
	// A run id prefixed to the event ids makes a new drill run with its
	// own alerts.
	rerun := replayAt(e, recording("run2-"), now.Add(20*time.Minute))
	if len(rerun) != len(first) {
		t.Fatalf("rerun raised %d alerts, first run %d", len(rerun), len(first))
	}
	for _, a := range rerun {
		if slices.Contains(ids(first), a.ID) {
			t.Errorf("rerun alert %s reuses an id of the first run", a.Rule)
		}
	}
}

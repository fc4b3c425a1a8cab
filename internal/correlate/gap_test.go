package correlate

import (
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// A drill (or a quiet cluster without the idle clock) jumps from one event
// to the next, hours later: what came due in the gap is judged first, at
// its own time.
func TestGapResolvesWindowAtItsEnd(t *testing.T) {
	e := newEngine(t, thresholdRule)
	var evs []*event.Event
	for i := range 10 {
		evs = append(evs, ev("dns.timeout", "n1", time.Duration(i)*time.Second, map[string]any{"count": 1}))
	}
	got := feed(e, evs...)
	want(t, got, "dns-storm/prod/firing@9s")
	// The next event of the same group arrives three hours later: the
	// window emptied at 1m0s (the first record leaving it), and that is
	// when the alert resolves, before the new event opens a new window.
	got = feed(e, ev("dns.timeout", "n1", 3*time.Hour, map[string]any{"count": 1}))
	want(t, got, "dns-storm/prod/resolved@1m0s")
}

func TestGapSilenceIsReported(t *testing.T) {
	e := newEngine(t, crashRule)
	got := feed(e, ev("node.heartbeat", "n1", 0, nil), ev("node.heartbeat", "n1", 10*time.Second, nil))
	want(t, got, "")
	// Nothing else happens on this timeline until the node speaks again
	// ten minutes later: it was silent for more than absent_for, so it
	// was down, and it is back.
	got = feed(e, ev("node.heartbeat", "n1", 10*time.Minute, nil))
	want(t, got, "node-silent/prod/n1/firing@1m10s node-silent/prod/n1/resolved@10m0s")
}

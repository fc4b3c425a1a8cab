package webui

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// testAlert is a firing alert of node with one evidence event.
func testAlert(t testing.TB, node string, update int) *alert.Alert {
	t.Helper()
	t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	e, err := event.New("app.test", "test/"+node, "dev", node, t0, map[string]any{"message": "hello"})
	if err != nil {
		t.Fatal(err)
	}
	a := &alert.Alert{
		Fingerprint: alert.Fingerprint("pipeline-test", "dev/"+node), Rule: "pipeline-test", Severity: "info", State: alert.Firing,
		Labels: map[string]string{"cluster": "dev", "node": node}, Summary: "test event from " + node,
		GroupKey: "dev/" + node, WindowStart: t0, StartsAt: t0, Evidence: []event.Event{*e}, EvidenceSeen: 1,
		Tally: []alert.TypeTally{{Type: "app.test", Events: 1}}, Update: update, CreatedAt: t0.Add(time.Duration(update) * time.Second),
	}
	a.ID = alert.MakeID(a.Fingerprint, a.WindowStart, a.State)
	if update > 0 {
		a.ID = alert.UpdateID(a.Fingerprint, a.WindowStart, update)
	}
	return a
}

func encoded(t testing.TB, a *alert.Alert) []byte {
	t.Helper()
	b, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestAlertLogTake: what the log keeps of ALERTS messages, read as a page
// reads it. Messages that begin as the router writes alerts are kept
// undecoded, so the checks a decode makes come when a page reads them.
func TestAlertLogTake(t *testing.T) {
	a := testAlert(t, "node1", 0)
	raw := encoded(t, a)
	for _, c := range []struct {
		name           string
		subject, msgID string
		data           []byte
		want           int // versions a page sees
	}{
		{"the router's alert", a.Subject(), a.ID, raw, 1},
		{"not JSON", a.Subject(), a.ID, []byte("hello"), 0},
		{"no fingerprint", a.Subject(), "x", []byte(`{"id":"x","fingerprint":"","state":"firing"}`), 0},
		{"Nats-Msg-Id is not its id", a.Subject(), "other", raw, 0},
		{"on another rule's subject", "alerts.live.other", a.ID, raw, 0},
		{"id last (decoded at once)", a.Subject(), a.ID, idLast(raw, a.ID), 1},
		{"a repeated fingerprint that says otherwise", a.Subject(), a.ID, []byte(strings.TrimSuffix(string(raw), "}") + `,"fingerprint":"forged"}`), 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			l := newAlertLog(discard)
			l.take(c.subject, c.msgID, c.data)
			if got := len(l.Versions(a.Fingerprint)); got != c.want {
				t.Fatalf("a page sees %d versions, want %d", got, c.want)
			}
			if got := len(l.Latest()); got != c.want {
				t.Fatalf("the list shows %d alerts, want %d", got, c.want)
			}
			if c.want > 0 && l.Latest()[0].Summary != a.Summary {
				t.Fatalf("summary %q, want %q", l.Latest()[0].Summary, a.Summary)
			}
		})
	}
}

// TestAlertLogVersions: a replayed publish is kept once; only the latest
// version keeps its evidence and tally; a version that turns out not to
// be the router's is dropped when the next comes.
func TestAlertLogVersions(t *testing.T) {
	l := newAlertLog(discard)
	v0, v1, v2 := testAlert(t, "node1", 0), testAlert(t, "node1", 1), testAlert(t, "node1", 2)
	fp := v0.Fingerprint
	l.take(v0.Subject(), v0.ID, encoded(t, v0))
	l.take(v0.Subject(), v0.ID, encoded(t, v0))        // replayed
	l.take("alerts.live.other", v1.ID, encoded(t, v1)) // kept raw, not the router's
	l.take(v2.Subject(), v2.ID, encoded(t, v2))
	vs := l.Versions(fp)
	if len(vs) != 2 || vs[0].ID != v0.ID || vs[1].ID != v2.ID {
		t.Fatalf("versions %v, want %s then %s", ids(vs), v0.ID, v2.ID)
	}
	if len(vs[0].Evidence) != 0 || len(vs[0].Tally) != 0 {
		t.Fatalf("an older version kept %d evidence events and %d tallies", len(vs[0].Evidence), len(vs[0].Tally))
	}
	if len(vs[1].Evidence) != 1 || len(vs[1].Tally) != 1 {
		t.Fatalf("the latest has %d evidence events and %d tallies, want 1 and 1", len(vs[1].Evidence), len(vs[1].Tally))
	}
	if got := l.Latest(); len(got) != 1 || got[0].ID != v2.ID {
		t.Fatalf("latest %v, want %s", ids(got), v2.ID)
	}
}

// idLast moves the id the router writes first to the end.
func idLast(raw []byte, id string) []byte {
	head := `{"id":"` + id + `",`
	rest := strings.TrimPrefix(string(raw), head)
	return []byte("{" + strings.TrimSuffix(rest, "}") + `,"id":"` + id + `"}`)
}

func ids(as []*alert.Alert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.ID)
	}
	return out
}

// TestAlertLogEvicts: past MaxAlerts the alert changed longest ago is
// dropped; one changed again is kept longer.
func TestAlertLogEvicts(t *testing.T) {
	l := newAlertLog(discard)
	l.max = 100
	fps := make([]string, 250)
	for i := range 250 {
		a := testAlert(t, fmt.Sprintf("node%03d", i), 0)
		fps[i] = a.Fingerprint
		l.take(a.Subject(), a.ID, encoded(t, a))
		switch i {
		case 60: // node000 changes again
			u := testAlert(t, "node000", 1)
			l.take(u.Subject(), u.ID, encoded(t, u))
		case 100: // the first past the cap: node001 goes, not node000
			if l.byFP[fps[0]] == nil || l.byFP[fps[1]] != nil {
				t.Fatalf("node000 kept: %v, node001 kept: %v; want true, false", l.byFP[fps[0]] != nil, l.byFP[fps[1]] != nil)
			}
		}
		if n := len(l.byFP); n > 100 || n != l.lru.Len() {
			t.Fatalf("after %d alerts: %d kept (%d in the LRU list), cap 100", i+1, n, l.lru.Len())
		}
	}
	for i, fp := range fps {
		kept := l.byFP[fp] != nil
		if want := i >= 150; kept != want {
			t.Errorf("node%03d kept: %v, want %v", i, kept, want)
		}
	}
}

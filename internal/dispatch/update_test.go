package dispatch_test

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/notify/notifytest"
)

// update is the nth update of a, significant with notes or grown.
func update(a *alert.Alert, n int, notes ...string) *alert.Alert {
	u := *a
	u.ID, u.Update, u.CreatedAt = alert.UpdateID(a.Fingerprint, a.StartsAt, n), n, time.Now()
	u.Change = &alert.Change{Significant: len(notes) > 0, Notes: notes}
	return &u
}

// kinds describes receiver's messages: kind, and the news.
func (e *env) kinds(receiver string) string {
	var out []string
	for _, n := range e.recv[receiver].Sent() {
		for _, m := range n.Messages {
			s := m.Kind.String()
			for _, a := range m.Firing {
				for _, note := range m.News[a.Fingerprint] {
					s += "(" + note + ")"
				}
			}
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// TestSignificantUpdateIsNotHeldForGroupInterval: the page goes out at
// once; growth waits for group_interval (5m); a significant update (the
// crash's cause) goes out update_interval (10s) after the last message,
// and a second one that came meanwhile is told with it.
func TestSignificantUpdateIsNotHeldForGroupInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil)
		page := mk("node-crash", "critical", "n1", alert.Firing, time.Now())
		e.ingest(page)
		time.Sleep(3 * time.Second)
		e.ingest(update(page, 1)) // grown: not news
		synctest.Wait()
		if got := e.kinds("pager"); got != "page" {
			t.Fatalf("pager got %q after growth, want the page alone", got)
		}
		e.ingest(update(page, 2, "cause found: kernel BUG"))
		e.ingest(update(page, 3, "known bug: Ubuntu 1653498"))
		time.Sleep(7*time.Second - time.Millisecond)
		synctest.Wait()
		if got := e.kinds("pager"); got != "page" {
			t.Fatalf("pager got %q before update_interval", got)
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if got, want := e.kinds("pager"), "page update(cause found: kernel BUG)(known bug: Ubuntu 1653498)"; got != want {
			t.Fatalf("pager got %q, want %q", got, want)
		}
		// Long after, a significant update goes out at once.
		time.Sleep(2 * time.Minute)
		e.ingest(update(page, 4, "crashed or silent nodes now: n1, n2"))
		synctest.Wait()
		if got := e.kinds("pager"); !strings.HasSuffix(got, " update(crashed or silent nodes now: n1, n2)") {
			t.Fatalf("pager got %q", got)
		}
		// Growth alone waits for the group's next tick (every group_interval
		// from its first message: at 5m).
		e.ingest(update(page, 5))
		time.Sleep(2*time.Minute + 40*time.Second)
		synctest.Wait()
		if got := e.kinds("pager"); len(e.recv["pager"].Sent()) != 3 {
			t.Fatalf("pager got %q: growth went out before group_interval", got)
		}
		time.Sleep(20 * time.Second)
		synctest.Wait()
		if got := e.kinds("pager"); !strings.HasSuffix(got, " refresh") {
			t.Fatalf("pager got %q, want a refresh at group_interval", got)
		}
	})
}

// TestEditingReceiverRefreshesSoon: a receiver that edits its first
// message (Slack with a bot token) is refreshed update_interval after the
// last message when the alert grows, not group_interval.
func TestEditingReceiverRefreshesSoon(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil, func(r *notifytest.Receiver) { r.Edits = r.Name() == "pager" })
		page := mk("node-crash", "critical", "n1", alert.Firing, time.Now())
		e.ingest(page)
		time.Sleep(time.Minute)
		e.ingest(update(page, 1))
		synctest.Wait()
		if got := e.kinds("pager"); got != "page refresh" {
			t.Fatalf("pager got %q, want the page and a refresh at once", got)
		}
		// News right after a refresh is not held back by it: a refresh
		// notified nobody, the page was a minute ago.
		time.Sleep(3 * time.Second)
		e.ingest(update(page, 2, "cause found: kernel BUG"))
		if got := e.kinds("pager"); got != "page refresh update(cause found: kernel BUG)" {
			t.Fatalf("pager got %q, want the news at once", got)
		}
		if e.recv["team"].EditsInPlace() {
			t.Fatal("team edits")
		}
	})
}

// TestNewsSurvivesRestart: a significant update stored but not yet told
// when the router stops is told after the restart, as news.
func TestNewsSurvivesRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := dispatch.NewMemoryStore()
		e := start(t, routing, store, nil)
		page := mk("node-crash", "critical", "n1", alert.Firing, time.Now())
		e.ingest(page)
		e.ingest(update(page, 1, "cause found: kernel BUG"))
		e.d.Close() // before update_interval
		e = start(t, routing, store, nil)
		time.Sleep(time.Second)
		synctest.Wait()
		if got, want := e.kinds("pager"), "update(cause found: kernel BUG)"; got != want {
			t.Fatalf("after restart pager got %q, want %q", got, want)
		}
	})
}

// TestNewEpisodePages: an alert that resolves and fires again (a second
// crash in the cluster) before its resolve notice went out is a new
// incident: its message pages, it is not a refresh of the old one.
func TestNewEpisodePages(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := start(t, routing, dispatch.NewMemoryStore(), nil)
		first := mk("node-crash", "critical", "n1", alert.Firing, time.Now())
		e.ingest(first)
		time.Sleep(time.Minute)
		e.ingest(mk("node-crash", "critical", "n1", alert.Resolved, time.Now()))
		time.Sleep(time.Minute)
		again := mk("node-crash", "critical", "n1", alert.Firing, time.Now())
		again.StartsAt = first.StartsAt.Add(2 * time.Minute)
		again.ID = alert.MakeID(again.Fingerprint, again.StartsAt, alert.Firing)
		e.ingest(again)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if got := e.kinds("pager"); got != "page page" {
			t.Fatalf("pager got %q, want the second episode paged", got)
		}
	})
}

package dispatch_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/notify"
)

// ruleGroups groups alerts by rule: one group, many alerts.
const ruleGroups = `route:
  receiver: pager
  group_by: [rule]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: pager
    webhook: {url: {env: X}}
`

// stateView is the web view's copy of ALERT_STATE.
func stateView(t *testing.T, conn *bus.Conn) *dispatch.StateView {
	t.Helper()
	kv, err := conn.JS.KeyValue(context.Background(), bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	view, err := dispatch.WatchState(t.Context(), kv, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	return view
}

// TestNotificationHistory: each alert's deliveries are recorded in
// ALERT_STATE with their tries (a retried page says so), a dead letter
// with its reason, and a restarted dispatcher appends to what it stored
// instead of starting over.
func TestNotificationHistory(t *testing.T) {
	conn := bustest.Connect(t, bustest.Server(t))
	view := stateView(t, conn)
	run := startReal(t, conn)
	run.recv.Fail = func(n *notify.Notification, attempt int) error {
		switch {
		case n.Messages[0].Firing[0].Labels["node"] == "bad":
			return &notify.Error{Reason: "http 404", Retryable: false}
		case attempt <= 2:
			return &notify.Error{Reason: "http 503", Retryable: true}
		}
		return nil
	}
	now := time.Now().UTC()
	mk := func(node string) *alert.Alert {
		fp := alert.Fingerprint("node-crash", node)
		return &alert.Alert{ID: alert.MakeID(fp, now, alert.Firing), Fingerprint: fp, Rule: "node-crash", Severity: "critical",
			State: alert.Firing, Labels: map[string]string{"node": node}, GroupKey: node, WindowStart: now, StartsAt: now, CreatedAt: now}
	}
	good, bad := mk("n1"), mk("bad")
	publishAlert(t, conn.JS, good)
	publishAlert(t, conn.JS, bad)
	bustest.Eventually(t, "both histories stored", func() bool {
		return view.History(good.Fingerprint) != nil && view.History(bad.Fingerprint) != nil
	})
	g := view.History(good.Fingerprint).Deliveries
	if len(g) != 1 || g[0].Outcome != "sent" || g[0].Attempts != 3 || g[0].Receiver != "pager" || g[0].Kind != "page" || g[0].AlertID != good.ID {
		t.Errorf("retried page: %+v", g)
	}
	b := view.History(bad.Fingerprint).Deliveries
	if len(b) != 1 || b[0].Outcome != "dead_lettered" || b[0].Attempts != 1 || !strings.Contains(b[0].Error, "http 404") {
		t.Errorf("dead letter: %+v", b)
	}

	// A restarted dispatcher keeps the history and adds the resolve notice.
	run.stop()
	startReal(t, conn)
	res := *good
	res.State, res.EndsAt, res.CreatedAt = alert.Resolved, now.Add(time.Minute), now.Add(time.Minute)
	res.ID = alert.MakeID(good.Fingerprint, good.WindowStart, alert.Resolved)
	publishAlert(t, conn.JS, &res)
	bustest.Eventually(t, "resolve notice recorded after the page", func() bool {
		h := view.History(good.Fingerprint)
		return h != nil && len(h.Deliveries) == 2 && h.Deliveries[1].Kind == "resolved" && h.Deliveries[1].Attempts == 1
	})
}

// TestHistoryRecordsWhatToldOfTheAlert: a group's message lists every
// alert still firing, but only the alerts it tells something about have
// it in their histories: an alert joining the group does not add a page
// to the histories of those already told, news of one alert is not the
// others' delivery, and a resolve notice is the resolved alert's. (Each
// listed alert's history was rewritten by every message: a storm of
// 30 000 alerts in one group wrote 30 000 histories per group_interval.)
func TestHistoryRecordsWhatToldOfTheAlert(t *testing.T) {
	conn := bustest.Connect(t, bustest.Server(t))
	view := stateView(t, conn)
	run := startRealRouting(t, conn, nil, ruleGroups)
	now := time.Now().UTC()
	mk := func(node string) *alert.Alert {
		fp := alert.Fingerprint("node-crash", node)
		return &alert.Alert{ID: alert.MakeID(fp, now, alert.Firing), Fingerprint: fp, Rule: "node-crash", Severity: "critical",
			State: alert.Firing, Labels: map[string]string{"node": node}, GroupKey: node, WindowStart: now, StartsAt: now, CreatedAt: now}
	}
	kinds := func(a *alert.Alert) string {
		h := view.History(a.Fingerprint)
		if h == nil {
			return ""
		}
		var out []string
		for _, d := range h.Deliveries {
			out = append(out, d.Kind)
		}
		return strings.Join(out, " ")
	}
	messages := func() int { return len(run.recv.Sent()) }
	a, b := mk("n1"), mk("n2")
	publishAlert(t, conn.JS, a)
	bustest.Eventually(t, "a paged", func() bool { return kinds(a) == "page" })
	publishAlert(t, conn.JS, b)
	bustest.Eventually(t, "b paged", func() bool { return kinds(b) == "page" })
	publishAlert(t, conn.JS, update(a, 1, "cause found: kernel BUG"))
	bustest.Eventually(t, "a's news told", func() bool { return kinds(a) == "page update" })
	res := *b
	res.State, res.EndsAt, res.CreatedAt = alert.Resolved, now.Add(time.Minute), time.Now().UTC()
	res.ID = alert.MakeID(b.Fingerprint, b.WindowStart, alert.Resolved)
	publishAlert(t, conn.JS, &res)
	bustest.Eventually(t, "b's resolve notice told", func() bool { return kinds(b) == "page resolved" })
	if got := kinds(a); got != "page update" {
		t.Errorf("a's history %q after %d messages, want its page and its news only", got, messages())
	}
	if n := messages(); n != 4 {
		t.Errorf("%d messages, want 4 (page a, page b, a's news, b resolved)", n)
	}
}

// TestBigGroupRestartsWithoutPagingAgain: a group of 9 000 alerts has a
// notification log over NATS's 1 MiB max_payload; a restarted dispatcher
// reads it back (logparts.go), so an alert joining the group afterwards
// pages alone instead of all 9 001 paging again.
func TestBigGroupRestartsWithoutPagingAgain(t *testing.T) {
	const n = 9000
	conn := bustest.Connect(t, bustest.Server(t))
	run := startRealRouting(t, conn, nil, ruleGroups)
	now := time.Now().UTC()
	mk := func(i int) *alert.Alert {
		node := fmt.Sprintf("node-%05d", i)
		fp := alert.Fingerprint("node-down", node)
		return &alert.Alert{ID: alert.MakeID(fp, now, alert.Firing), Fingerprint: fp, Rule: "node-down", Severity: "warning",
			State: alert.Firing, Labels: map[string]string{"node": node}, GroupKey: node, WindowStart: now, StartsAt: now, CreatedAt: now}
	}
	ctx := context.Background()
	for i := range n {
		a := mk(i)
		b, _ := a.Encode()
		if _, err := conn.JS.PublishMsgAsync(&nats.Msg{Subject: a.Subject(), Data: b}, jetstream.WithMsgID(a.ID)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-conn.JS.PublishAsyncComplete():
	case <-time.After(time.Minute):
		t.Fatal("alerts not stored")
	}
	told := func(r *runner) int {
		fresh := 0
		for _, nt := range r.recv.Sent() {
			for _, m := range nt.Messages {
				fresh += len(m.Fresh)
			}
		}
		return fresh
	}
	bustest.Eventually(t, "every alert paged", func() bool { return told(run) == n })
	reader, err := dispatch.NewKVStore(ctx, conn.JS, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	bustest.Eventually(t, "the log of all of them stored", func() bool {
		_, logs, err := reader.Load(ctx)
		return err == nil && len(logs) == 1 && len(logs[0].Firing) == n
	})
	if bad := reader.Rejected(); len(bad) > 0 {
		t.Fatal(bad)
	}
	run.stop()

	next := startRealRouting(t, conn, nil, ruleGroups)
	publishAlert(t, conn.JS, mk(n))
	bustest.Eventually(t, "the new alert paged", func() bool { return told(next) > 0 })
	if got := told(next); got != 1 {
		t.Fatalf("after the restart %d alerts paged as new, want the one that joined", got)
	}
}

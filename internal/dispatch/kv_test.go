package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/notify/notifytest"
	"github.com/aftershock/aftershock/internal/route"
)

const kvRouting = `route:
  receiver: pager
  group_by: ["..."]
  group_wait: 0s
  group_interval: 1s
  routes:
    - matchers: [severity=warning]
      group_wait: 1h
receivers:
  - name: pager
    webhook: {url: {env: X}}
`

// runner is a dispatcher consuming ALERTS from a real JetStream, as the
// router runs it.
type runner struct {
	d    *dispatch.Dispatcher
	recv *notifytest.Receiver
	cc   jetstream.ConsumeContext
}

func startReal(t *testing.T, conn *bus.Conn) *runner {
	t.Helper()
	return startRealWith(t, conn, nil)
}

// startRealWith is startReal with the dispatcher's metrics in reg.
func startRealWith(t *testing.T, conn *bus.Conn, reg prometheus.Registerer) *runner {
	t.Helper()
	return startRealRouting(t, conn, reg, kvRouting)
}

// startRealRouting is startRealWith with another routing.
func startRealRouting(t *testing.T, conn *bus.Conn, reg prometheus.Registerer, routing string) *runner {
	t.Helper()
	ctx := context.Background()
	r, probs := route.Parse("routing.yaml", []byte(routing))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	store, err := dispatch.NewKVStore(ctx, conn.JS, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	recv := notifytest.NewReceiver("pager")
	d, err := dispatch.New(dispatch.Options{Routing: r, Store: store, Log: bustest.Logger(t), Registry: reg, Targets: []dispatch.Target{
		{Receiver: recv, Coalesce: 1, Backoff: notify.Backoff{Initial: time.Millisecond, Max: time.Millisecond, MaxElapsed: time.Second}},
		{Receiver: notifytest.NewReceiver("console"), Coalesce: 1, Drills: true},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cons, err := conn.JS.CreateOrUpdateConsumer(ctx, bus.StreamAlerts, jetstream.ConsumerConfig{
		Durable: "notify", AckPolicy: jetstream.AckExplicitPolicy, MaxDeliver: -1, AckWait: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	cc, err := cons.Consume(d.Handler(conn.JS, bustest.Logger(t)))
	if err != nil {
		t.Fatal(err)
	}
	run := &runner{d: d, recv: recv, cc: cc}
	t.Cleanup(run.stop)
	return run
}

func (r *runner) stop() {
	if r.cc == nil {
		return
	}
	r.cc.Drain()
	<-r.cc.Closed()
	r.d.Close()
	r.cc = nil
}

func publishAlert(t *testing.T, js jetstream.JetStream, a *alert.Alert) {
	t.Helper()
	b, _ := a.Encode()
	if _, err := js.PublishMsg(context.Background(), &nats.Msg{Subject: a.Subject(), Data: b}, jetstream.WithMsgID(a.ID)); err != nil {
		t.Fatal(err)
	}
}

func consumerIdle(t *testing.T, js jetstream.JetStream) bool {
	cons, err := js.Consumer(context.Background(), bus.StreamAlerts, "notify")
	if err != nil {
		return false
	}
	info, err := cons.Info(context.Background())
	return err == nil && info.NumPending == 0 && info.NumAckPending == 0
}

// storedState counts the alert records in ALERT_STATE and the alerts the
// groups' notification logs say were told firing (-1, -1 when it cannot
// be read).
func storedState(t *testing.T, conn *bus.Conn) (alerts, logged int) {
	t.Helper()
	recs, logs, err := loadState(t, conn)
	if err != nil {
		return -1, -1
	}
	for _, l := range logs {
		logged += len(l.Firing)
	}
	return len(recs), logged
}

// loadState reads ALERT_STATE as a start does.
func loadState(t *testing.T, conn *bus.Conn) ([]*dispatch.AlertRecord, []*dispatch.LogRecord, error) {
	t.Helper()
	ctx := context.Background()
	st, err := dispatch.NewKVStore(ctx, conn.JS, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	return st.Load(ctx)
}

func fingerprints(r *runner) []string {
	var out []string
	for _, n := range r.recv.Sent() {
		for _, m := range n.Messages {
			for _, a := range m.Firing {
				out = append(out, "+"+a.Labels["node"])
			}
			for _, a := range m.Resolved {
				out = append(out, "-"+a.Labels["node"])
			}
		}
	}
	return out
}

// TestRealRestart runs the lifecycle on a real JetStream: state in
// ALERT_STATE survives a restart, so nothing told is told again, and what
// was pending (a group waiting out its group_wait, a resolve notice owed)
// is not lost. A message that is not an alert is dead-lettered.
func TestRealRestart(t *testing.T) {
	srv := bustest.Server(t)
	conn := bustest.Connect(t, srv)
	r1 := startReal(t, conn)
	now := time.Now()
	crash := mk("node-crash", "critical", "n1", alert.Firing, now)
	publishAlert(t, conn.JS, crash)
	publishAlert(t, conn.JS, crash) // a duplicate publish is dropped by JetStream; a redelivery by the lifecycle
	disk := mk("disk", "critical", "n2", alert.Firing, now)
	publishAlert(t, conn.JS, disk)
	bustest.Eventually(t, "both firing alerts told", func() bool { return len(fingerprints(r1)) == 2 })
	publishAlert(t, conn.JS, mk("dns", "warning", "n3", alert.Firing, now)) // waits 1h
	bad := &nats.Msg{Subject: "alerts.live.broken", Data: []byte(`{"id":`)}
	if _, err := conn.JS.PublishMsg(context.Background(), bad); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "ALERTS consumed", func() bool { return consumerIdle(t, conn.JS) })
	// The groups' logs are written after the messages are sent: a restart
	// before would tell +n1 again and owe no resolve notice for n2.
	bustest.Eventually(t, "both firing alerts logged", func() bool {
		_, logged := storedState(t, conn)
		return logged == 2
	})
	r1.stop()

	// While down: disk resolves.
	publishAlert(t, conn.JS, mk("disk", "critical", "n2", alert.Resolved, now.Add(time.Second)))
	r2 := startReal(t, conn)
	bustest.Eventually(t, "resolve notice after restart", func() bool { return len(fingerprints(r2)) == 1 })
	bustest.Eventually(t, "ALERTS consumed", func() bool { return consumerIdle(t, conn.JS) })
	if got := strings.Join(fingerprints(r2), ","); got != "-n2" {
		t.Fatalf("after restart: %s, want only the resolve notice -n2", got)
	}
	// The resolved alert's record is deleted once its notice is sent, after.
	bustest.Eventually(t, "the resolved alert's record deleted", func() bool {
		alerts, _ := storedState(t, conn)
		return alerts == 2
	})
	r2.stop()

	// The dns alert is still waiting in the store, not lost.
	kv, _ := conn.JS.KeyValue(context.Background(), bus.BucketState)
	keys, _ := kv.ListKeys(context.Background())
	var alerts []string
	for k := range keys.Keys() {
		if strings.HasPrefix(k, "alert.") {
			alerts = append(alerts, k)
		}
	}
	if len(alerts) != 2 { // node-crash (firing) and dns (pending)
		t.Errorf("stored alerts %v, want node-crash and dns", alerts)
	}
	dlq, err := conn.JS.Stream(context.Background(), bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dlq.GetLastMsgForSubject(context.Background(), dispatch.SubjectDLQAlerts)
	if err != nil {
		t.Fatalf("undecodable alert not dead-lettered: %v", err)
	}
	if !strings.Contains(m.Header.Get(notify.HeaderReason), "decode alert") || string(m.Data) != `{"id":` {
		t.Errorf("dead letter %q %q", m.Header.Get(notify.HeaderReason), m.Data)
	}
}

// TestForeignEntriesRejected: what the router did not write is counted and
// left aside. On ALERTS: a JetStream ack stored by a reply subject, an
// alert without its Nats-Msg-Id, an alert on another rule's subject; they
// are dead-lettered and the real alert behind them is still told. In
// ALERT_STATE: records of another shape or key are skipped at start, and
// a bucket holding only such records does not keep the notifier from
// starting.
func TestForeignEntriesRejected(t *testing.T) {
	srv := bustest.Server(t)
	conn := bustest.Connect(t, srv)
	ctx := context.Background()
	kv, err := conn.JS.KeyValue(ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	for key, v := range map[string]string{
		"alert.fp1":    `{"stream":"EVENTS","seq":3}`,
		"nflog.g1":     `{"stream":"EVENTS","seq":4,"duplicate": true}`,
		"alert.other":  `{"alert":{"id":"x","fingerprint":"fp9","rule":"r"}}`,
		"lease.intrud": `{"stream":"EVENTS","seq":5}`,
		"history.fp1":  `{"stream":"EVENTS","seq":6}`,
	} {
		if _, err := kv.Put(ctx, key, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	r := startRealWith(t, conn, reg)
	if got := counter(t, reg, "aftershock_lifecycle_rejected_total", "ALERT_STATE"); got != 5 {
		t.Errorf("ALERT_STATE rejected %v, want 5", got)
	}

	real := mk("node-crash", "critical", "n1", alert.Firing, time.Now())
	b, _ := real.Encode()
	other := mk("disk", "critical", "n2", alert.Firing, time.Now())
	ob, _ := other.Encode()
	forged := []*nats.Msg{
		{Subject: real.Subject(), Data: []byte(`{"stream":"EVENTS","seq":12}`)},
		{Subject: real.Subject(), Data: b},                                                          // no Nats-Msg-Id
		{Subject: real.Subject(), Data: ob, Header: nats.Header{jetstream.MsgIDHeader: {other.ID}}}, // another rule's alert
	}
	for _, m := range forged {
		if _, err := conn.JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	publishAlert(t, conn.JS, real)
	bustest.Eventually(t, "the real alert told", func() bool { return len(fingerprints(r)) == 1 })
	bustest.Eventually(t, "ALERTS consumed", func() bool { return consumerIdle(t, conn.JS) })
	if got := counter(t, reg, "aftershock_lifecycle_rejected_total", "ALERTS"); got != 3 {
		t.Errorf("ALERTS rejected %v, want 3", got)
	}
	dlq, err := conn.JS.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, err := dlq.Info(ctx, jetstream.WithSubjectFilter(dispatch.SubjectDLQAlerts))
	if err != nil || info.State.Subjects[dispatch.SubjectDLQAlerts] != 3 {
		t.Fatalf("dead letters %v, %v; want 3", info.State.Subjects, err)
	}

	// What the router wrote since (the told alert's record, its group's
	// log and its history) is read back at the next start, not rejected.
	bustest.Eventually(t, "the alert's history stored", func() bool {
		_, err := kv.Get(ctx, "history."+real.Fingerprint)
		return err == nil
	})
	r.stop()
	reg2 := prometheus.NewRegistry()
	startRealWith(t, conn, reg2)
	if got := counter(t, reg2, "aftershock_lifecycle_rejected_total", "ALERT_STATE"); got != 5 {
		t.Errorf("after a restart ALERT_STATE rejected %v, want the same 5", got)
	}
}

// counter reads the counter name{store=label} from reg.
func counter(t *testing.T, reg *prometheus.Registry, name, label string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == label {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestStoredAsPublished: the alert record in ALERT_STATE holds the alert
// as it was published on ALERTS (kept as read, not encoded again), with
// its news; an alert carrying more evidence than a record keeps (from an
// older router) is stored cut down.
func TestStoredAsPublished(t *testing.T) {
	conn := bustest.Connect(t, bustest.Server(t))
	startReal(t, conn)
	now := time.Now().UTC().Truncate(time.Millisecond)
	ev := func(i int) event.Event {
		return event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("ev%d", i), Source: "aftershock/collector/n1", Type: "node.crash",
			Time: now, Cluster: "c1", Node: "n1", Data: json.RawMessage(`{"reason":"oops <&>","n":1}`)}
	}
	first := &alert.Alert{ID: "u0", Fingerprint: "fpU", Rule: "node-crash", Severity: "critical", State: alert.Firing,
		Labels: map[string]string{"node": "n1", "cluster": "c1"}, Annotations: map[string]string{"runbook": "https://x/?a=1&b=<2>"},
		Summary: "node n1 crashed", NoteOrder: []string{"runbook"}, GroupKey: "n1", WindowStart: now, WindowEnd: now, StartsAt: now,
		Evidence: []event.Event{ev(0), ev(1)}, EvidenceSeen: 2, Tally: []alert.TypeTally{{Type: "node.crash", Events: 2, Occurrences: 2, Nodes: 1, First: now, Last: now}},
		CreatedAt: now}
	update := *first
	update.ID, update.Update, update.CreatedAt = "u1", 1, now.Add(time.Second)
	update.Change = &alert.Change{Significant: true, Notes: []string{"cause found: kernel BUG"}}
	big := *first
	big.ID, big.Fingerprint, big.Labels = "b0", "fpBig", map[string]string{"node": "n2"}
	for i := range alert.MaxEvidence + 3 {
		big.Evidence = append(big.Evidence, ev(i))
	}
	for _, a := range []*alert.Alert{first, &update, &big} {
		publishAlert(t, conn.JS, a)
	}
	bustest.Eventually(t, "alerts stored", func() bool { return consumerIdle(t, conn.JS) })

	kv, err := conn.JS.KeyValue(context.Background(), bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	v, err := dispatch.WatchState(t.Context(), kv, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	// What a reader decodes from the publication itself.
	published := func(a *alert.Alert) *alert.Alert {
		b, err := a.Encode()
		if err != nil {
			t.Fatal(err)
		}
		d, err := alert.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	// The consumer acks an alert before the writer's batch reaches the
	// bucket, and the view hears of it after that.
	bustest.Eventually(t, "records in the view", func() bool {
		u, b := v.Alert("fpU"), v.Alert("fpBig")
		return u != nil && b != nil && u.Alert.ID == "u1"
	})
	cut := big
	cut.Evidence = big.Evidence[:alert.MaxEvidence]
	for _, tc := range []struct {
		fp   string
		want *alert.Alert
		news []dispatch.News
	}{
		{"fpU", published(&update), []dispatch.News{{Update: 1, Notes: []string{"cause found: kernel BUG"}}}},
		{"fpBig", published(&cut), nil},
	} {
		t.Run(tc.fp, func(t *testing.T) {
			rec := v.Alert(tc.fp)
			if rec == nil {
				t.Fatalf("no record of %s (%d invalid)", tc.fp, v.Invalid())
			}
			if !reflect.DeepEqual(rec.Alert, tc.want) {
				t.Errorf("stored alert\n%+v\nwant\n%+v", rec.Alert, tc.want)
			}
			if !reflect.DeepEqual(rec.News, tc.news) {
				t.Errorf("news %+v, want %+v", rec.News, tc.news)
			}
			if rec.Updated.IsZero() {
				t.Error("no updated time")
			}
		})
	}
}

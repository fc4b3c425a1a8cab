package lane_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/lane"
	"github.com/aftershock/aftershock/internal/outbox"
	"github.com/aftershock/aftershock/internal/rule"
)

const rules = `rules:
  - name: each
    severity: info
    match: event.type == "aftershock.test"
    group_by: [event.id]
    summary: 'event {{ .event.id }}'
`

func ruleSet(tb testing.TB) *rule.Set {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(rules), 0o644); err != nil {
		tb.Fatal(err)
	}
	set, err := rule.LoadDir(dir, rule.CheckOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

// newOutbox is an outbox closed when the test ends.
func newOutbox(t *testing.T, o outbox.Options) *outbox.Outbox {
	t.Helper()
	out, err := outbox.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		out.Close(ctx)
	})
	return out
}

func testEvent(id string) []byte {
	return fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"test","type":"aftershock.test","time":%q,"cluster":"dev","node":"n1","data":{}}`,
		id, time.Now().UTC().Format(time.RFC3339Nano))
}

// TestAckedOnlyOnceStored: while ALERTS cannot store an event's alert, the
// event stays unacked and in progress (not redelivered, whatever AckWait
// says), /metrics-style readers never wait on the lane, and once ALERTS is
// back the alert is stored and the event acked.
func TestAckedOnlyOnceStored(t *testing.T) {
	c := bustest.Connect(t, bustest.Server(t))
	ctx := context.Background()
	var retries atomic.Int32
	out := newOutbox(t, outbox.Options{
		NC: c.NC, DeadLetters: "dlq.alerts", Log: bustest.Logger(t),
		Retry:   outbox.Retry{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond, Timeout: time.Second},
		OnRetry: func(error) { retries.Add(1) },
	})
	events := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "events"}, []string{"outcome"})
	set := ruleSet(t)
	l := lane.New(lane.Config{
		// The lane says "in progress" every AckWait/3 for events held longer
		// than that, so the first comes up to 2/3 of AckWait after the
		// delivery: 3s leaves a loaded machine a second to spare.
		Durable: "test", Source: lane.Events(), AckWait: 3 * time.Second, LatestHorizon: time.Hour,
		JS: c.JS, Rules: func() *rule.Set { return set }, Log: bustest.Logger(t),
		Alerts:  &lane.Alerts{Out: out, Published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alerts"}, []string{"state", "timeline"}), Log: bustest.Logger(t)},
		Metrics: lane.Metrics{Events: events},
	})
	if err := l.Acquire(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Release)

	if err := c.JS.DeleteStream(ctx, bus.StreamAlerts); err != nil {
		t.Fatal(err)
	}
	if _, err := c.JS.PublishMsg(ctx, &nats.Msg{Subject: "events.dev.n1.app", Data: testEvent("ev-1")}); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "the alert's publish retried", func() bool { return retries.Load() > 2 })
	if l.Engine().Stats().Rules["each"].Matched != 1 {
		t.Fatal("the engine did not evaluate the event")
	}
	time.Sleep(7 * time.Second) // past AckWait twice over
	cons, err := c.JS.Consumer(ctx, bus.StreamEvents, "test")
	if err != nil {
		t.Fatal(err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumAckPending != 1 || info.NumRedelivered != 0 || info.AckFloor.Stream != 0 {
		t.Fatalf("while the alert is not stored: ack pending %d, redelivered %d, ack floor %d; want 1, 0, 0",
			info.NumAckPending, info.NumRedelivered, info.AckFloor.Stream)
	}

	if _, err := bus.Provision(ctx, c.JS, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "the event acked once its alert is stored", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.AckFloor.Stream == 1 && info.NumAckPending == 0
	})
	st, err := c.JS.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.GetLastMsgForSubject(ctx, "alerts.live.each"); err != nil {
		t.Fatalf("alert not stored: %v", err)
	}
	if got := testutil.ToFloat64(events.WithLabelValues("ok")); got != 1 {
		t.Fatalf("events ok %v, want 1", got)
	}
}

// refusing is an outbox that turns alerts away, as a full outbox does
// when the lane stops meanwhile, while a flush of nothing still succeeds.
type refusing struct{ lane.Sender }

func (r refusing) Send(ctx context.Context, items []outbox.Item, done func([]error)) bool {
	if len(items) > 0 {
		return false
	}
	return r.Sender.Send(ctx, items, done)
}

// TestRebuildFailsWhenAlertsAreNotQueued: a rebuild evaluates for real the
// events delivered to the previous owner but never acked; when their
// alerts cannot be queued, the acquire fails (the event is redelivered to
// whoever acquires next) rather than succeed with the event in the
// windows, where its redelivery would be acked as a duplicate and its
// alert never stored.
func TestRebuildFailsWhenAlertsAreNotQueued(t *testing.T) {
	c := bustest.Connect(t, bustest.Server(t))
	ctx := context.Background()
	out := newOutbox(t, outbox.Options{NC: c.NC, DeadLetters: "dlq.alerts", Log: bustest.Logger(t)})
	if _, err := c.JS.PublishMsg(ctx, &nats.Msg{Subject: "events.dev.n1.app", Data: testEvent("ev-1")}); err != nil {
		t.Fatal(err)
	}
	// The previous owner took the event and died before storing its alert.
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{Durable: "test", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cons.Fetch(1); err != nil {
		t.Fatal(err)
	}
	set := ruleSet(t)
	mk := func(s lane.Sender) *lane.Lane {
		return lane.New(lane.Config{
			Durable: "test", Source: lane.Events(), AckWait: time.Minute, LatestHorizon: time.Hour,
			JS: c.JS, Rules: func() *rule.Set { return set }, Log: bustest.Logger(t),
			Alerts: &lane.Alerts{Out: s, Published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alerts"}, []string{"state", "timeline"}), Log: bustest.Logger(t)},
		})
	}
	bustest.Eventually(t, "the event delivered", func() bool {
		info, err := cons.Info(ctx)
		return err == nil && info.Delivered.Stream == 1
	})
	if err := mk(refusing{out}).Acquire(ctx, nil); err == nil {
		t.Fatal("acquired although the replayed event's alert was not queued")
	}
	l := mk(out)
	if err := l.Acquire(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(l.Release)
	st, err := c.JS.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "the alert stored by the next acquire", func() bool {
		_, err := st.GetLastMsgForSubject(ctx, "alerts.live.each")
		return err == nil
	})
}

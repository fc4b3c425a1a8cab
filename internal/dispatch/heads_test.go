package dispatch_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
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

const headsRouting = `resolve_timeout: 1h
route:
  receiver: pager
  group_by: [cluster]
  group_wait: 0s
  group_interval: 50ms
  repeat_interval: 1h
receivers:
  - name: pager
    webhook: {url: {env: X}}
`

// countingStore counts the bodies the dispatcher reads; the first fail
// reads fail as a store out of reach would.
type countingStore struct {
	*dispatch.KVStore
	bodies atomic.Int64
	fail   atomic.Int64
}

func (s *countingStore) Bodies(ctx context.Context, fps []string) (map[string]*dispatch.AlertRecord, map[string]error) {
	if s.fail.Add(-1) >= 0 {
		failed := map[string]error{}
		for _, fp := range fps {
			failed[fp] = errors.New("nats: timeout")
		}
		return nil, failed
	}
	s.bodies.Add(int64(len(fps)))
	return s.KVStore.Bodies(ctx, fps)
}

type headsRun struct {
	d     *dispatch.Dispatcher
	store *countingStore
	recv  *notifytest.Receiver
	reg   *prometheus.Registry
}

func startHeads(t *testing.T, conn *bus.Conn, routing string, sweep time.Duration) *headsRun {
	t.Helper()
	ctx := context.Background()
	r, probs := route.Parse("routing.yaml", []byte(routing))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	kv, err := dispatch.NewKVStore(ctx, conn.JS, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	h := &headsRun{store: &countingStore{KVStore: kv}, recv: notifytest.NewReceiver("pager"), reg: prometheus.NewRegistry()}
	h.d, err = dispatch.New(dispatch.Options{Routing: r, Store: h.store, Log: bustest.Logger(t), Registry: h.reg, SweepEvery: sweep,
		Targets: []dispatch.Target{
			{Receiver: h.recv, Coalesce: 1, Backoff: notify.Backoff{Initial: time.Millisecond, Max: time.Millisecond, MaxElapsed: time.Second}},
			{Receiver: notifytest.NewReceiver("console"), Coalesce: 1},
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.d.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(h.stop)
	return h
}

func (h *headsRun) stop() {
	h.d.Close()
	h.store.Close()
}

// ingest hands a to the lifecycle and waits until it is stored.
func (h *headsRun) ingest(t *testing.T, a *alert.Alert) {
	t.Helper()
	done := make(chan error, 1)
	h.d.Ingest(a, func(err error) { done <- err })
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// told lists the alerts of the last message sent, with their summary and
// evidence count: "n1:summary of n1:1", "-n1:…" when resolved.
func (h *headsRun) told() []string {
	var out []string
	sent := h.recv.Sent()
	for _, n := range sent[max(0, len(sent)-1):] {
		for _, m := range n.Messages {
			for _, a := range m.Firing {
				out = append(out, fmt.Sprintf("%s:%s:%d", a.Labels["node"], a.Summary, len(a.Evidence)))
			}
			for _, a := range m.Resolved {
				out = append(out, fmt.Sprintf("-%s:%s:%d", a.Labels["node"], a.Summary, len(a.Evidence)))
			}
		}
	}
	return out
}

// toldAndLogged waits until the last message told n alerts and the
// group's stored log says so: a restart then owes nothing.
func (h *headsRun) toldAndLogged(t *testing.T, conn *bus.Conn, n int) {
	t.Helper()
	bustest.Eventually(t, fmt.Sprintf("%d alerts told and logged", n), func() bool {
		if len(h.told()) != n {
			return false
		}
		ctx := context.Background()
		kv, err := conn.JS.KeyValue(ctx, bus.BucketState)
		if err != nil {
			return false
		}
		keys, err := kv.ListKeysFiltered(ctx, "nflog.>")
		if err != nil {
			return false
		}
		for k := range keys.Keys() {
			e, err := kv.Get(ctx, k)
			if err != nil {
				return false
			}
			var l dispatch.LogRecord
			if json.Unmarshal(e.Value(), &l) == nil && len(l.Firing) == n {
				return true
			}
		}
		return false
	})
}

func bodyAlert(node string, now time.Time) *alert.Alert {
	a := mk("node-down", "warning", node, alert.Firing, now)
	a.Summary = "summary of " + node
	a.Evidence = []event.Event{{SpecVersion: "1.0", ID: "ev-" + node, Source: "t", Type: event.TypeHeartbeat, Time: now, Cluster: "c1", Node: node}}
	return a
}

// TestRestartReadsHeadsThenBodies: a start reads the alerts' heads only;
// the bodies of a group's alerts are read when a message is to carry
// them, and the message says what the full alerts say.
func TestRestartReadsHeadsThenBodies(t *testing.T) {
	conn := bustest.Connect(t, bustest.Server(t))
	first := startHeads(t, conn, headsRouting, time.Hour)
	now := time.Now()
	for i := range 20 {
		first.ingest(t, bodyAlert(fmt.Sprintf("n%02d", i), now))
	}
	first.toldAndLogged(t, conn, 20)
	first.stop()

	next := startHeads(t, conn, headsRouting, time.Hour)
	if got := next.store.bodies.Load(); got != 0 {
		t.Fatalf("%d bodies read at start, want none: nothing was news", got)
	}
	if got := len(next.recv.Sent()); got != 0 {
		t.Fatalf("%d messages after the restart, with nothing new", got)
	}
	next.ingest(t, bodyAlert("n20", now))
	bustest.Eventually(t, "a page with the group's 21 alerts", func() bool { return len(next.told()) == 21 })
	for _, s := range next.told() {
		node, _, _ := strings.Cut(s, ":")
		if want := node + ":summary of " + node + ":1"; s != want {
			t.Fatalf("told %q, want %q: the message lacks the alert's body", s, want)
		}
	}
	if got := next.store.bodies.Load(); got != 20 {
		t.Fatalf("%d bodies read, want the 20 restored alerts the page carried", got)
	}
}

// TestOwedMessageCarriesBodies: alerts stored but never told (the router
// stopped before their group's message) are told after a restart, with
// their text read from their records.
func TestOwedMessageCarriesBodies(t *testing.T) {
	conn := bustest.Connect(t, bustest.Server(t))
	// The same groups, told only after an hour: the first router stops
	// before.
	first := startHeads(t, conn, strings.Replace(headsRouting, "group_wait: 0s", "group_wait: 1h", 1), time.Hour)
	now := time.Now()
	for _, n := range []string{"n1", "n2", "n3"} {
		first.ingest(t, bodyAlert(n, now))
	}
	first.stop()
	if got := len(first.recv.Sent()); got != 0 {
		t.Fatalf("%d messages before the restart, want none", got)
	}

	next := startHeads(t, conn, headsRouting, time.Hour)
	bustest.Eventually(t, "the owed page, with the alerts' text", func() bool {
		told := next.told()
		slices.Sort(told)
		return slices.Equal(told, []string{"n1:summary of n1:1", "n2:summary of n2:1", "n3:summary of n3:1"})
	})
	if got := next.store.bodies.Load(); got != 3 {
		t.Fatalf("%d bodies read, want the 3 the page carried", got)
	}
}

// TestNewerAlertReplacesHead: a restored alert that fires again with a
// new episode is told with the new alert's text; its old record is never
// read.
func TestNewerAlertReplacesHead(t *testing.T) {
	conn := bustest.Connect(t, bustest.Server(t))
	first := startHeads(t, conn, headsRouting, time.Hour)
	now := time.Now()
	first.ingest(t, bodyAlert("n1", now))
	first.toldAndLogged(t, conn, 1)
	first.stop()

	next := startHeads(t, conn, headsRouting, time.Hour)
	later := now.Add(time.Minute)
	a := bodyAlert("n1", later)
	a.ID, a.StartsAt, a.WindowStart = alert.MakeID(a.Fingerprint, later, alert.Firing), later, later
	a.Summary = "again n1"
	next.ingest(t, a)
	bustest.Eventually(t, "a page with the new text", func() bool {
		return slices.Equal(next.told(), []string{"n1:again n1:1"})
	})
	if got := next.store.bodies.Load(); got != 0 {
		t.Fatalf("%d bodies read, want none: the new alert replaced the head", got)
	}
}

// TestHeadWithoutBody: an alert whose record is gone, or no longer the
// router's, by the time its body is needed is forgotten and counted, and
// the message goes out without it.
func TestHeadWithoutBody(t *testing.T) {
	now := time.Now()
	gone := bodyAlert("n2", now)
	key := "alert." + gone.Fingerprint
	other := *gone
	other.ID = alert.MakeID(other.Fingerprint, now.Add(time.Minute), alert.Firing)
	otherRec, _ := json.Marshal(&dispatch.AlertRecord{Alert: &other, Updated: now})
	for _, tc := range []struct {
		name  string
		spoil func(ctx context.Context, kv jetstream.KeyValue) error
	}{
		{"purged", func(ctx context.Context, kv jetstream.KeyValue) error { return kv.Purge(ctx, key) }},
		{"deleted", func(ctx context.Context, kv jetstream.KeyValue) error { return kv.Delete(ctx, key) }},
		{"a JetStream ack stored there", func(ctx context.Context, kv jetstream.KeyValue) error {
			_, err := kv.Put(ctx, key, []byte(`{"stream":"KV_ALERT_STATE","seq":7}`))
			return err
		}},
		{"another alert than its head", func(ctx context.Context, kv jetstream.KeyValue) error {
			_, err := kv.Put(ctx, key, otherRec)
			return err
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := bustest.Connect(t, bustest.Server(t))
			first := startHeads(t, conn, headsRouting, time.Hour)
			first.ingest(t, bodyAlert("n1", now))
			first.ingest(t, bodyAlert("n2", now))
			first.toldAndLogged(t, conn, 2)
			first.stop()

			next := startHeads(t, conn, headsRouting, time.Hour)
			kv, err := conn.JS.KeyValue(context.Background(), bus.BucketState)
			if err != nil {
				t.Fatal(err)
			}
			if err := tc.spoil(context.Background(), kv); err != nil {
				t.Fatal(err)
			}
			next.ingest(t, bodyAlert("n3", now))
			bustest.Eventually(t, "a page without the alert whose record is gone", func() bool {
				told := next.told()
				slices.Sort(told) // alerts of one instant are told in fingerprint order
				return slices.Equal(told, []string{"n1:summary of n1:1", "n3:summary of n3:1"})
			})
			if got := counter(t, next.reg, "aftershock_lifecycle_rejected_total", "ALERT_STATE"); got != 1 {
				t.Fatalf("rejected %v, want 1", got)
			}
		})
	}
}

// TestWholeRecordsOfOlderRouters: a record without a head the router
// wrote (by a router before heads, or a header someone else set) is read
// whole at start, and one that is not the router's is rejected.
func TestWholeRecordsOfOlderRouters(t *testing.T) {
	a := bodyAlert("n1", time.Now())
	rec, _ := json.Marshal(&dispatch.AlertRecord{Alert: a, Updated: time.Now()})
	otherHead, _ := json.Marshal(&dispatch.AlertRecord{Alert: mk("node-down", "warning", "n9", alert.Firing, time.Now())})
	for _, tc := range []struct {
		name     string
		head     string // the record's Aftershock-Head ("": none)
		body     []byte
		told     []string
		rejected float64
	}{
		{"no head", "", rec, []string{"n1:summary of n1:1"}, 0},
		{"a head that is not JSON", "{", rec, []string{"n1:summary of n1:1"}, 0},
		{"another alert's head", string(otherHead), rec, []string{"n1:summary of n1:1"}, 0},
		{"no head, not a record", "", []byte(`{"stream":"KV_ALERT_STATE","seq":7}`), nil, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn := bustest.Connect(t, bustest.Server(t))
			m := nats.NewMsg("$KV." + bus.BucketState + ".alert." + a.Fingerprint)
			m.Data = tc.body
			if tc.head != "" {
				m.Header.Set(dispatch.HeadHeader, tc.head)
			}
			if _, err := conn.JS.PublishMsg(context.Background(), m); err != nil {
				t.Fatal(err)
			}
			next := startHeads(t, conn, headsRouting, time.Hour)
			if got := counter(t, next.reg, "aftershock_lifecycle_rejected_total", "ALERT_STATE"); got != tc.rejected {
				t.Fatalf("rejected %v, want %v", got, tc.rejected)
			}
			if tc.told == nil {
				next.ingest(t, bodyAlert("n2", time.Now()))
				tc.told = []string{"n2:summary of n2:1"}
			}
			bustest.Eventually(t, "the stored alert paged", func() bool { return slices.Equal(next.told(), tc.told) })
			if got := next.store.bodies.Load(); got != 0 {
				t.Fatalf("%d bodies read for a record read whole", got)
			}
		})
	}
}

// TestBodiesReadAgain: bodies that cannot be read for now (the store out
// of reach) are read again later; the alerts are neither forgotten nor
// told without their text.
func TestBodiesReadAgain(t *testing.T) {
	conn := bustest.Connect(t, bustest.Server(t))
	first := startHeads(t, conn, headsRouting, time.Hour)
	now := time.Now()
	first.ingest(t, bodyAlert("n1", now))
	first.toldAndLogged(t, conn, 1)
	first.stop()

	next := startHeads(t, conn, headsRouting, time.Hour)
	next.store.fail.Store(1)
	next.ingest(t, bodyAlert("n2", now))
	bustest.Eventually(t, "a page with both alerts' text", func() bool {
		told := next.told()
		slices.Sort(told)
		return slices.Equal(told, []string{"n1:summary of n1:1", "n2:summary of n2:1"})
	})
	if got := next.store.fail.Load(); got > -1 {
		t.Fatalf("%d failed reads left: the body was not read again", got+1)
	}
	if got := counter(t, next.reg, "aftershock_lifecycle_rejected_total", "ALERT_STATE"); got != 0 {
		t.Fatalf("rejected %v, want none: the record is there", got)
	}
}

// TestSweepReadsTheBody: a restored alert nobody refreshed within
// resolve_timeout is resolved with its text, read first.
func TestSweepReadsTheBody(t *testing.T) {
	conn := bustest.Connect(t, bustest.Server(t))
	first := startHeads(t, conn, headsRouting, time.Hour)
	a := bodyAlert("n1", time.Now())
	first.ingest(t, a)
	first.toldAndLogged(t, conn, 1)
	first.stop()
	// Last heard of two hours ago: past resolve_timeout (1h).
	st, err := dispatch.NewKVStore(context.Background(), conn.JS, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.PutAlert(&dispatch.AlertRecord{Alert: a, Updated: time.Now().Add(-2 * time.Hour)}).Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	st.Close()

	next := startHeads(t, conn, headsRouting, 100*time.Millisecond)
	bustest.Eventually(t, "resolved by resolve_timeout, with its text", func() bool {
		told := next.told()
		return len(told) == 1 && told[0] == "-n1:summary of n1:1"
	})
	if got := next.store.bodies.Load(); got != 1 {
		t.Fatalf("%d bodies read, want 1", got)
	}
}

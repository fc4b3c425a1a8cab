package lane_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// thirdRules fire when a cluster's third test event arrives within an hour.
const thirdRules = `rules:
  - name: third
    severity: info
    match: event.type == "aftershock.test"
    group_by: [event.cluster]
    window: 1h
    condition: window.events() >= 3
    summary: 'three events'
`

func loadRules(tb testing.TB, text string) *rule.Set {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(text), 0o644); err != nil {
		tb.Fatal(err)
	}
	set, err := rule.LoadDir(dir, rule.CheckOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

type laneRun struct {
	l         *lane.Lane
	snapshots *prometheus.CounterVec
	rebuilt   prometheus.Counter
}

func startLane(t *testing.T, c *bus.Conn, set *rule.Set, every time.Duration, edit ...func(*lane.Config)) *laneRun {
	t.Helper()
	return startLaneOn(t, c, set, every, windows(t, c.JS), edit...)
}

func windows(t *testing.T, js jetstream.JetStream) jetstream.ObjectStore {
	t.Helper()
	obs, err := js.ObjectStore(context.Background(), bus.BucketWindows)
	if err != nil {
		t.Fatal(err)
	}
	return obs
}

// startLaneOn starts a lane keeping its snapshots in obs; edit changes
// its configuration.
func startLaneOn(t *testing.T, c *bus.Conn, set *rule.Set, every time.Duration, obs jetstream.ObjectStore, edit ...func(*lane.Config)) *laneRun {
	t.Helper()
	ctx := context.Background()
	out := newOutbox(t, outbox.Options{NC: c.NC, DeadLetters: "dlq.alerts", Log: bustest.Logger(t), Retry: outbox.Retry{Timeout: time.Second}})
	r := &laneRun{
		snapshots: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "snapshots"}, []string{"outcome"}),
		rebuilt:   prometheus.NewCounter(prometheus.CounterOpts{Name: "rebuilt"}),
	}
	cfg := lane.Config{
		Durable: "test", Source: lane.Events(), AckWait: time.Second, LatestHorizon: time.Hour,
		Snapshots: obs, SnapshotEvery: every,
		JS: c.JS, Rules: func() *rule.Set { return set }, Log: bustest.Logger(t),
		Alerts:  &lane.Alerts{Out: out, Published: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "alerts"}, []string{"state", "timeline"}), Log: bustest.Logger(t)},
		Metrics: lane.Metrics{Snapshots: r.snapshots, RebuildEvents: r.rebuilt},
	}
	for _, e := range edit {
		e(&cfg)
	}
	r.l = lane.New(cfg)
	if err := r.l.Acquire(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.l.Release) // before the outbox closes
	return r
}

func publishTest(t *testing.T, js jetstream.JetStream, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if _, err := js.PublishMsg(context.Background(), &nats.Msg{Subject: "events.dev.n1.app", Data: testEvent(id)}); err != nil {
			t.Fatal(err)
		}
	}
}

func ackedThrough(t *testing.T, js jetstream.JetStream, seq uint64) {
	t.Helper()
	bustest.Eventually(t, fmt.Sprintf("events acked through %d", seq), func() bool {
		cons, err := js.Consumer(context.Background(), bus.StreamEvents, "test")
		if err != nil {
			return false
		}
		info, err := cons.Info(context.Background())
		return err == nil && info.AckFloor.Stream >= seq
	})
}

func alertStored(js jetstream.JetStream, rule string) bool {
	st, err := js.Stream(context.Background(), bus.StreamAlerts)
	if err != nil {
		return false
	}
	_, err = st.GetLastMsgForSubject(context.Background(), "alerts.live."+rule)
	return err == nil
}

// TestRestartFromSnapshot: a lane released after two events leaves a
// snapshot; the next owner restores it, reads no event back, and the
// third event (stored meanwhile) fires the window the first two began.
func TestRestartFromSnapshot(t *testing.T) {
	c := bustest.Connect(t, bustest.Server(t))
	set := loadRules(t, thirdRules)
	first := startLane(t, c, set, time.Hour)
	publishTest(t, c.JS, "ev-1", "ev-2")
	ackedThrough(t, c.JS, 2)
	first.l.Release()
	if got := testutil.ToFloat64(first.snapshots.WithLabelValues("saved")); got != 1 {
		t.Fatalf("snapshots saved at release: %v, want 1", got)
	}
	publishTest(t, c.JS, "ev-3")

	next := startLane(t, c, set, time.Hour)
	if got := testutil.ToFloat64(next.snapshots.WithLabelValues("restored")); got != 1 {
		t.Fatalf("snapshots restored: %v, want 1", got)
	}
	if got := testutil.ToFloat64(next.rebuilt); got != 0 {
		t.Fatalf("events read back: %v, want 0 (the snapshot holds them)", got)
	}
	bustest.Eventually(t, "the third event fires the window", func() bool { return alertStored(c.JS, "third") })
}

// TestSnapshotTail: snapshots are saved while the lane runs; a start after
// more events were acked restores the last one and replays only the
// events after it, silently.
func TestSnapshotTail(t *testing.T) {
	c := bustest.Connect(t, bustest.Server(t))
	set := loadRules(t, thirdRules)
	first := startLane(t, c, set, 100*time.Millisecond)
	publishTest(t, c.JS, "ev-1")
	ackedThrough(t, c.JS, 1)
	bustest.Eventually(t, "a snapshot saved while running", func() bool {
		return testutil.ToFloat64(first.snapshots.WithLabelValues("saved")) >= 1
	})
	obs, _ := c.JS.ObjectStore(context.Background(), bus.BucketWindows)
	info, err := obs.GetInfo(context.Background(), "test")
	if err != nil {
		t.Fatal(err)
	}
	if info.Metadata["seq"] != "1" {
		t.Fatalf("snapshot at seq %q, want 1", info.Metadata["seq"])
	}
	first.l.Release()
	// The release saved nothing new: the engine held nothing new.
	publishTest(t, c.JS, "ev-2")
	// ev-2 is consumed and acked by a router that died before its next
	// snapshot.
	cons, err := c.JS.Consumer(context.Background(), bus.StreamEvents, "test")
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := cons.Fetch(1, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	for m := range msgs.Messages() {
		if err := m.DoubleAck(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	publishTest(t, c.JS, "ev-3")

	next := startLane(t, c, set, time.Hour)
	if got := testutil.ToFloat64(next.snapshots.WithLabelValues("restored")); got != 1 {
		t.Fatalf("snapshots restored: %v, want 1", got)
	}
	if got := testutil.ToFloat64(next.rebuilt); got != 1 {
		t.Fatalf("events read back: %v, want 1 (ev-2, after the snapshot)", got)
	}
	bustest.Eventually(t, "the third event fires the window", func() bool { return alertStored(c.JS, "third") })
}

// TestSnapshotRefused: a snapshot of rules whose state changed is not
// used; the lane replays the stream instead and says why.
func TestSnapshotRefused(t *testing.T) {
	c := bustest.Connect(t, bustest.Server(t))
	first := startLane(t, c, loadRules(t, thirdRules), time.Hour)
	publishTest(t, c.JS, "ev-1", "ev-2")
	ackedThrough(t, c.JS, 2)
	first.l.Release()
	publishTest(t, c.JS, "ev-3")

	changed := loadRules(t, strings.Replace(thirdRules, "window: 1h", "window: 2h", 1))
	next := startLane(t, c, changed, time.Hour)
	if got := testutil.ToFloat64(next.snapshots.WithLabelValues("refused")); got != 1 {
		t.Fatalf("snapshots refused: %v, want 1", got)
	}
	if got := testutil.ToFloat64(next.rebuilt); got != 2 {
		t.Fatalf("events read back: %v, want 2 (a full replay)", got)
	}
	bustest.Eventually(t, "the third event fires the window", func() bool { return alertStored(c.JS, "third") })
}

// TestSnapshotWaitsForAcks: while an event's alert cannot be stored (and
// so the event is not acked), no snapshot holding it is saved.
func TestSnapshotWaitsForAcks(t *testing.T) {
	c := bustest.Connect(t, bustest.Server(t))
	ctx := context.Background()
	r := startLane(t, c, loadRules(t, rules), 100*time.Millisecond)
	if err := c.JS.DeleteStream(ctx, bus.StreamAlerts); err != nil {
		t.Fatal(err)
	}
	publishTest(t, c.JS, "ev-1")
	bustest.Eventually(t, "a snapshot refused for want of acks", func() bool {
		return testutil.ToFloat64(r.snapshots.WithLabelValues("unacked")) >= 1
	})
	if got := testutil.ToFloat64(r.snapshots.WithLabelValues("saved")); got != 0 {
		t.Fatalf("snapshots saved while the event was not acked: %v", got)
	}
	if _, err := bus.Provision(ctx, c.JS, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "saved once the alert is stored and the event acked", func() bool {
		return testutil.ToFloat64(r.snapshots.WithLabelValues("saved")) >= 1
	})
}

// TestSnapshotSavedWhileRestored: another snapshot is saved while the
// lane restores one: here an older one, by a router that took the lane
// over while its owner still held the pin and so never got an event (the
// routers' views of who is alive differ for up to a heartbeat) and saves
// its windows at its release. The lane must restore windows and sequence
// of one and the same snapshot: the older windows under the newer
// sequence lose the events between the two, and the window they would
// have filled never fires.
func TestSnapshotSavedWhileRestored(t *testing.T) {
	c := bustest.Connect(t, bustest.Server(t))
	ctx := context.Background()
	set := loadRules(t, thirdRules)
	obs := windows(t, c.JS)
	first := startLane(t, c, set, time.Hour)
	publishTest(t, c.JS, "ev-1")
	ackedThrough(t, c.JS, 1)
	first.l.Release()
	info, err := obs.GetInfo(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	older, err := obs.GetBytes(ctx, "test")
	if err != nil {
		t.Fatal(err)
	}
	second := startLane(t, c, set, time.Hour)
	publishTest(t, c.JS, "ev-2")
	ackedThrough(t, c.JS, 2)
	second.l.Release()
	saving := &savingStore{ObjectStore: obs, save: func() {
		if _, err := obs.Put(ctx, info.ObjectMeta, bytes.NewReader(older)); err != nil {
			t.Error(err)
		}
	}}

	next := startLaneOn(t, c, set, time.Hour, saving)
	if !saving.saved.Load() {
		t.Fatal("the lane read no snapshot")
	}
	if got := testutil.ToFloat64(next.snapshots.WithLabelValues("restored")); got != 1 {
		t.Fatalf("snapshots restored: %v, want 1", got)
	}
	publishTest(t, c.JS, "ev-3")
	ackedThrough(t, c.JS, 3)
	// Acked only once its alerts are stored: by now, or never.
	if !alertStored(c.JS, "third") {
		t.Fatal("the third event was acked without an alert: the windows restored lacked ev-2")
	}
}

// savingStore saves another snapshot (save) once the lane has read the one
// in the store: its metadata, or all of it.
type savingStore struct {
	jetstream.ObjectStore
	save  func()
	saved atomic.Bool
}

func (s *savingStore) saveOnce() {
	if s.saved.CompareAndSwap(false, true) {
		s.save()
	}
}

func (s *savingStore) GetInfo(ctx context.Context, name string, opts ...jetstream.GetObjectInfoOpt) (*jetstream.ObjectInfo, error) {
	info, err := s.ObjectStore.GetInfo(ctx, name, opts...)
	if err == nil {
		s.saveOnce()
	}
	return info, err
}

func (s *savingStore) Get(ctx context.Context, name string, opts ...jetstream.GetObjectOpt) (jetstream.ObjectResult, error) {
	res, err := s.ObjectStore.Get(ctx, name, opts...)
	if err != nil {
		return nil, err
	}
	defer res.Close()
	b, err := io.ReadAll(res)
	if err != nil {
		return nil, err
	}
	info, err := res.Info()
	if err != nil {
		return nil, err
	}
	s.saveOnce()
	return &readObject{Reader: bytes.NewReader(b), info: info}, nil
}

// readObject is an object already read.
type readObject struct {
	*bytes.Reader
	info *jetstream.ObjectInfo
}

func (o *readObject) Close() error                         { return nil }
func (o *readObject) Info() (*jetstream.ObjectInfo, error) { return o.info, nil }
func (o *readObject) Error() error                         { return nil }

// TestReleaseRightAfterARetake: a router that takes the lane over
// evaluates, in its rebuild, the events its predecessor had been handed
// but never acked, and stores their alerts before it consumes. They are
// acked only when redelivered (AckWait after their first delivery). A
// release before that must not wait Timeouts.Unpin for those acks (a
// rolling update stopped each router that long): their alerts are stored,
// so a snapshot holding them is saved at once, and the next owner starts
// from it.
func TestReleaseRightAfterARetake(t *testing.T) {
	c := bustest.Connect(t, bustest.Server(t))
	ctx := context.Background()
	set := loadRules(t, rules)
	// Not redelivered within the test: the acks stay missing, and the
	// release would wait out Unpin (1 s here) for them.
	slow := func(cfg *lane.Config) { cfg.AckWait, cfg.Timeouts.Unpin = time.Minute, time.Second }
	first := startLane(t, c, set, time.Hour, slow)
	first.l.Release()
	publishTest(t, c.JS, "ev-1", "ev-2")
	// The predecessor, crashed: handed both events, acked neither.
	cons, err := c.JS.Consumer(ctx, bus.StreamEvents, "test")
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(2, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for range batch.Messages() {
		n++
	}
	if n != 2 {
		t.Fatalf("the predecessor was handed %d events, want 2", n)
	}

	next := startLane(t, c, set, time.Hour, slow)
	if got := testutil.ToFloat64(next.rebuilt); got != 2 {
		t.Fatalf("events the rebuild evaluated: %v, want 2", got)
	}
	next.l.Release()
	if got := testutil.ToFloat64(next.snapshots.WithLabelValues("unacked")); got != 0 {
		t.Errorf("the release waited for acks of events whose alerts the rebuild stored (%v unacked snapshots)", got)
	}
	info, err := windows(t, c.JS).GetInfo(ctx, "test")
	if err != nil {
		t.Fatalf("no snapshot after the release: %v", err)
	}
	if seq := info.Metadata["seq"]; seq != "2" {
		t.Fatalf("snapshot through seq %s, want 2", seq)
	}
	st, err := c.JS.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().State.Msgs; n != 2 {
		t.Fatalf("alerts stored: %d, want 2", n)
	}
	last := startLane(t, c, set, time.Hour, slow)
	if got := testutil.ToFloat64(last.snapshots.WithLabelValues("restored")); got != 1 {
		t.Fatalf("snapshots restored: %v, want 1", got)
	}
	if got := testutil.ToFloat64(last.rebuilt); got != 0 {
		t.Fatalf("events read back after the snapshot: %v, want 0", got)
	}
}

// TestSnapshotOfARecreatedConsumer: a snapshot holding events the
// consumer has not delivered (it was deleted and made again, and will
// deliver them anew) is refused, and the windows are built from what the
// new consumer delivers. (Restored, those events would be evaluated
// twice; the windows' own dedup by event id keeps them from counting
// twice, but a rule's evaluation must not rest on that alone.)
func TestSnapshotOfARecreatedConsumer(t *testing.T) {
	c := bustest.Connect(t, bustest.Server(t))
	ctx := context.Background()
	set := loadRules(t, thirdRules)
	first := startLane(t, c, set, time.Hour)
	publishTest(t, c.JS, "ev-1", "ev-2")
	ackedThrough(t, c.JS, 2)
	first.l.Release()
	if err := c.JS.DeleteConsumer(ctx, bus.StreamEvents, "test"); err != nil {
		t.Fatal(err)
	}
	next := startLane(t, c, set, time.Hour)
	if got := testutil.ToFloat64(next.snapshots.WithLabelValues("refused")); got != 1 {
		t.Fatalf("snapshots refused: %v, want 1", got)
	}
	// The new consumer delivers ev-1 and ev-2 again, and the windows
	// count them from scratch.
	ackedThrough(t, c.JS, 2)
	if alertStored(c.JS, "third") {
		t.Fatal("the window fired on two events")
	}
	publishTest(t, c.JS, "ev-3")
	bustest.Eventually(t, "the third event fires the window", func() bool { return alertStored(c.JS, "third") })
}

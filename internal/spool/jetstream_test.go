package spool_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/bus/embedded"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/spool"
)

// natsAt runs a real JetStream server on a fixed port and store, so a test
// can stop it and start it again where clients expect it.
type natsAt struct {
	tb   testing.TB
	dir  string
	port int
	srv  *server.Server
}

func newNATS(tb testing.TB) *natsAt {
	n := &natsAt{tb: tb, dir: tb.TempDir(), port: -1}
	n.start()
	n.port = n.srv.Addr().(*net.TCPAddr).Port
	tb.Cleanup(n.stop)
	return n
}

func (n *natsAt) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func (n *natsAt) start() {
	n.tb.Helper()
	s, err := embedded.Start(bus.EmbeddedOptions{StateDir: n.dir, Port: n.port}, nil)
	if err != nil {
		n.tb.Fatalf("start nats: %v", err)
	}
	n.srv = s
}

func (n *natsAt) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

// connect dials like the collector does: in the background, reconnecting
// forever.
func (n *natsAt) connect(tb testing.TB) *bus.Conn {
	tb.Helper()
	c, err := bus.Connect(context.Background(), bus.Options{URL: n.url(), Background: true, Name: tb.Name()}, bustest.Logger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.NC.Close)
	return c
}

func provision(tb testing.TB, js jetstream.JetStream) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := bus.Provision(ctx, js, bus.DefaultTopology()); err != nil {
		tb.Fatal(err)
	}
}

// jsTarget publishes as the collector does: the event id is the Nats-Msg-Id.
type jsTarget struct{ js jetstream.JetStream }

func (p jsTarget) Publish(ctx context.Context, ev event.Encoded) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err := p.js.PublishMsg(ctx, &nats.Msg{Subject: ev.NATSSubject(false), Data: ev.JSON}, jetstream.WithMsgID(ev.ID))
	return err
}

// stored reads every event in EVENTS, in stream order.
func stored(tb testing.TB, js jetstream.JetStream) []*event.Event {
	tb.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var evs []*event.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			tb.Fatalf("get %d: %v", seq, err)
		}
		ev, err := event.Decode(m.Data)
		if err != nil {
			tb.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

func storedCount(js jetstream.JetStream) uint64 {
	st, err := js.Stream(context.Background(), bus.StreamEvents)
	if err != nil {
		return 0
	}
	info, err := st.Info(context.Background())
	if err != nil {
		return 0
	}
	return info.State.Msgs
}

func ids(evs []*event.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, e.ID)
	}
	return out
}

func publishN(tb testing.TB, s *spool.Spool, from, n int) []string {
	tb.Helper()
	var out []string
	for i := from; i < from+n; i++ {
		ev := newEvent(tb, i)
		out = append(out, ev.ID)
		if err := s.Publish(context.Background(), ev); err != nil {
			tb.Fatalf("publish %d: %v", i, err)
		}
	}
	return out
}

func assertStored(tb testing.TB, js jetstream.JetStream, want []string) {
	tb.Helper()
	bustest.Eventually(tb, fmt.Sprintf("%d events stored", len(want)), func() bool { return storedCount(js) >= uint64(len(want)) })
	got := ids(stored(tb, js))
	if !slices.Equal(got, want) {
		tb.Fatalf("stored %d events, want %d in publish order (first difference at %d)", len(got), len(want), firstDiff(got, want))
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestNATSOutage: NATS goes away for a while and comes back on the same
// store; nothing is lost, order is kept, nothing is stored twice.
func TestNATSOutage(t *testing.T) {
	n := newNATS(t)
	c := n.connect(t)
	provision(t, c.JS)
	s := open(t, spool.Options{Dir: t.TempDir(), Target: jsTarget{c.JS}, Connected: c.NC.IsConnected})
	run(t, s)

	want := publishN(t, s, 0, 10)
	if st := s.Stats(); st.Spooled != 0 {
		t.Fatalf("spooled %d while NATS was up", st.Spooled)
	}
	n.stop()
	want = append(want, publishN(t, s, 10, 40)...)
	if st := s.Stats(); st.Events != 40 || st.Spooled != 40 || st.Bytes == 0 {
		t.Fatalf("during the outage: %+v, want 40 spooled", st)
	}
	n.start()
	bustest.Eventually(t, "spool drained", func() bool { return s.Stats().Events == 0 })
	want = append(want, publishN(t, s, 50, 5)...)
	assertStored(t, c.JS, want)
	if st := s.Stats(); st.Replayed != 40 || st.Dropped != 0 || st.Rejected != 0 {
		t.Fatalf("after the outage: %+v", st)
	}
}

// TestNotAcked: NATS is up but nothing stores the subject yet (no stream), so
// publishes are not acknowledged; they wait in the spool until the stream
// exists.
func TestNotAcked(t *testing.T) {
	n := newNATS(t)
	c := n.connect(t)
	s := open(t, spool.Options{Dir: t.TempDir(), Target: jsTarget{c.JS}, Connected: c.NC.IsConnected})
	run(t, s)
	want := publishN(t, s, 0, 3)
	if st := s.Stats(); st.Spooled != 3 {
		t.Fatalf("unacknowledged publishes were not spooled: %+v", st)
	}
	provision(t, c.JS)
	assertStored(t, c.JS, want)
}

// TestKilledMidReplay: the collector dies while replaying (and with a torn
// write at the spool's end); the next run publishes the rest, and what the
// dead run had already published is stored once.
func TestKilledMidReplay(t *testing.T) {
	n := newNATS(t)
	c := n.connect(t)
	provision(t, c.JS)
	n.stop()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	killer := &stopAfterReal{n: 25, cancel: cancel, next: jsTarget{c.JS}}
	opts := spool.Options{Dir: dir, Target: killer, Connected: c.NC.IsConnected, SegmentBytes: 4 << 10}
	first := open(t, opts)
	want := publishN(t, first, 0, 60)

	n.start()
	bustest.Eventually(t, "reconnect", c.NC.IsConnected)
	first.Run(ctx) // returns when the "kill" comes; first is abandoned, never closed
	if got := storedCount(c.JS); got != 25 {
		t.Fatalf("the killed run stored %d, want 25", got)
	}
	segs := segments(t, dir)
	appendBytes(t, segs[len(segs)-1], []byte{0, 0, 2, 0, 1, 2, 3}) // a torn write

	opts.Target = jsTarget{c.JS}
	second := open(t, opts)
	if left := second.Stats().Events; left < 35 {
		t.Fatalf("restart sees %d events, want at least the 35 unpublished", left)
	}
	want = append(want, publishN(t, second, 60, 5)...)
	run(t, second)
	assertStored(t, c.JS, want)
}

// stopAfterReal publishes to next until n events are stored, then cancels
// the run, like a kill.
type stopAfterReal struct {
	n      int
	cancel func()
	next   spool.Target
	stored atomic.Int64
}

func (s *stopAfterReal) Publish(ctx context.Context, ev event.Encoded) error {
	if s.stored.Load() >= int64(s.n) {
		s.cancel()
		return ctx.Err()
	}
	if err := s.next.Publish(ctx, ev); err != nil {
		return err
	}
	s.stored.Add(1)
	return nil
}

// TestFullDropsOldest: a spool at its cap drops its oldest events; when NATS
// returns, a collector.spool_dropped event says how many and when, followed
// by the newest events in order.
func TestFullDropsOldest(t *testing.T) {
	n := newNATS(t)
	c := n.connect(t)
	provision(t, c.JS)
	n.stop()
	dir := t.TempDir()
	s := open(t, spool.Options{Dir: dir, Target: jsTarget{c.JS}, Connected: c.NC.IsConnected,
		MaxBytes: spool.MinMaxBytes, SegmentBytes: 4 << 10})
	all := publishN(t, s, 0, 1000)
	st := s.Stats()
	if st.Dropped == 0 || st.Bytes > spool.MinMaxBytes || int64(st.Events)+st.Dropped != 1000 {
		t.Fatalf("full spool: %+v (cap %d)", st, spool.MinMaxBytes)
	}
	dropped := int(st.Dropped)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The drop report survives a restart too.
	s = open(t, spool.Options{Dir: dir, Target: jsTarget{c.JS}, Connected: c.NC.IsConnected,
		MaxBytes: spool.MinMaxBytes, SegmentBytes: 4 << 10})
	n.start()
	run(t, s)
	bustest.Eventually(t, "drained", func() bool { return storedCount(c.JS) == uint64(1+1000-dropped) })
	evs := stored(t, c.JS)
	if evs[0].Type != event.TypeSpoolDropped {
		t.Fatalf("first stored event is %s, want %s", evs[0].Type, event.TypeSpoolDropped)
	}
	var d event.SpoolDropped
	if err := json.Unmarshal(evs[0].Data, &d); err != nil {
		t.Fatal(err)
	}
	wantD := event.SpoolDropped{Dropped: dropped, First: t0, Last: t0.Add(time.Duration(dropped-1) * time.Second)}
	if d != wantD {
		t.Fatalf("spool_dropped data %+v, want %+v", d, wantD)
	}
	if got := ids(evs[1:]); !slices.Equal(got, all[dropped:]) {
		t.Fatalf("after the report: not the newest %d events in order", 1000-dropped)
	}
}

// TestServerRefuses: an event the server refuses for good (too large for the
// stream) fails a direct publish at once, and is skipped, not retried
// forever, when it was spooled.
func TestServerRefuses(t *testing.T) {
	n := newNATS(t)
	c := n.connect(t)
	cfg := bus.DefaultTopology().Streams()[0]
	cfg.MaxMsgSize = 1024
	if _, err := c.JS.CreateStream(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	big, err := event.NewEncoded(event.TypeHeartbeat, "src", "c1", "n1", t0, map[string]string{"pad": strings.Repeat("y", 2000)})
	if err != nil {
		t.Fatal(err)
	}
	var g gate
	g.up.Store(true)
	s := open(t, spool.Options{Dir: t.TempDir(), Target: jsTarget{c.JS}, Connected: func() bool { return g.connected() && c.NC.IsConnected() }})
	err = s.Publish(context.Background(), big)
	if err == nil || !spool.Permanent(err) {
		t.Fatalf("direct publish of an oversized event: %v, want a permanent error", err)
	}
	g.up.Store(false)
	want := publishN(t, s, 0, 1)
	if err := s.Publish(context.Background(), big); err != nil {
		t.Fatal(err)
	}
	want = append(want, publishN(t, s, 1, 1)...)
	g.up.Store(true)
	run(t, s)
	assertStored(t, c.JS, want)
	bustest.Eventually(t, "rejected counted", func() bool { return s.Stats().Rejected == 1 })
}

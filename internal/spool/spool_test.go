package spool_test

import (
	"context"
	"encoding/binary"
	"hash/crc32"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/spool"
)

var t0 = time.Date(2020, 6, 14, 13, 0, 0, 0, time.UTC)

// newEvent builds the i-th test event, i seconds after t0.
func newEvent(tb testing.TB, i int) event.Encoded {
	tb.Helper()
	ev, err := event.NewEncoded(event.TypeHeartbeat, "aftershock/collector/n1", "c1", "n1", t0.Add(time.Duration(i)*time.Second),
		map[string]any{"n": i, "pad": strings.Repeat("x", 200)})
	if err != nil {
		tb.Fatal(err)
	}
	return ev
}

func newEventFunc(typ string, t time.Time, data any) (*event.Event, error) {
	return event.New(typ, "aftershock/collector/n1", "c1", "n1", t, data)
}

// sink records what reaches it, in order; a disk-format test needs nothing
// more of the target.
type sink struct {
	mu  sync.Mutex
	evs []*event.Event
}

func (s *sink) Publish(_ context.Context, ev event.Encoded) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.evs = append(s.evs, ev.Event)
	return nil
}

func (s *sink) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, e := range s.evs {
		ids = append(ids, e.ID)
	}
	return ids
}

type gate struct{ up atomic.Bool }

func (g *gate) connected() bool { return g.up.Load() }

func open(tb testing.TB, o spool.Options) *spool.Spool {
	tb.Helper()
	if o.NewEvent == nil {
		o.NewEvent = newEventFunc
	}
	if o.RetryMin == 0 {
		o.RetryMin, o.RetryMax = 10*time.Millisecond, 50*time.Millisecond
	}
	o.Log = bustest.Logger(tb)
	s, err := spool.Open(o)
	if err != nil {
		tb.Fatalf("open spool: %v", err)
	}
	return s
}

// run replays s until the test ends or stop is called.
func run(tb testing.TB, s *spool.Spool) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); s.Run(ctx) }()
	stop = func() { cancel(); <-done }
	tb.Cleanup(stop)
	return stop
}

func segments(tb testing.TB, dir string) []string {
	tb.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		tb.Fatal(err)
	}
	slices.Sort(m)
	return m
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    spool.Options
		want string
	}{
		{"no dir", spool.Options{Target: &sink{}, NewEvent: newEventFunc}, "spool dir: empty"},
		{"tiny cap", spool.Options{Dir: "d", MaxBytes: 1000, Target: &sink{}, NewEvent: newEventFunc}, "spool max bytes 1000"},
		{"segment over half", spool.Options{Dir: "d", MaxBytes: 1 << 20, SegmentBytes: 1 << 20, Target: &sink{}, NewEvent: newEventFunc}, "spool segment bytes"},
		{"no target", spool.Options{Dir: "d", NewEvent: newEventFunc}, "spool target: nil"},
		{"no event builder", spool.Options{Dir: "d", Target: &sink{}}, "spool new event: nil"},
		{"retry", spool.Options{Dir: "d", Target: &sink{}, NewEvent: newEventFunc, RetryMin: time.Second, RetryMax: time.Millisecond}, "spool retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := tt.o
			o.Defaults()
			err := o.Validate()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	ok := spool.Options{Dir: "d", Target: &sink{}, NewEvent: newEventFunc}
	ok.Defaults()
	if err := ok.Validate(); err != nil {
		t.Fatalf("defaults do not validate: %v", err)
	}
}

// TestQueueBehindSpool: once something is spooled, new events wait behind
// it even when the target could take them, and come out in order.
func TestQueueBehindSpool(t *testing.T) {
	dir := t.TempDir()
	var g gate
	out := &sink{}
	s := open(t, spool.Options{Dir: dir, Target: out, Connected: g.connected})
	ctx := context.Background()
	var want []string
	for i := range 5 {
		ev := newEvent(t, i)
		want = append(want, ev.ID)
		if err := s.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	g.up.Store(true)
	for i := 5; i < 10; i++ {
		ev := newEvent(t, i)
		want = append(want, ev.ID)
		if err := s.Publish(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(out.ids()); got != 0 {
		t.Fatalf("%d events bypassed a non-empty spool", got)
	}
	if st := s.Stats(); st.Events != 10 || st.Spooled != 10 {
		t.Fatalf("stats %+v, want 10 spooled", st)
	}
	run(t, s)
	bustest.Eventually(t, "replay", func() bool { return len(out.ids()) == 10 })
	if got := out.ids(); !slices.Equal(got, want) {
		t.Fatalf("order\n got %v\nwant %v", got, want)
	}
	// Empty again: the next event goes straight through and the files are gone.
	bustest.Eventually(t, "empty", func() bool { return s.Stats().Events == 0 })
	if err := s.Publish(ctx, newEvent(t, 10)); err != nil {
		t.Fatal(err)
	}
	if n := len(out.ids()); n != 11 {
		t.Fatalf("direct publish after drain: %d events out", n)
	}
	if segs := segments(t, dir); len(segs) != 0 {
		t.Fatalf("segments left after drain: %v", segs)
	}
	if st := s.Stats(); st.Replayed != 10 || st.Bytes != 0 {
		t.Fatalf("stats after drain %+v", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(ctx, newEvent(t, 11)); err == nil {
		t.Fatal("publish after close succeeded")
	}
}

// TestTornWrites: a crash in the middle of a write leaves a partial record;
// the next Open truncates it, keeps every whole record, and appends after it.
func TestTornWrites(t *testing.T) {
	frame := func(payload []byte, claimed uint32, crc uint32) []byte {
		b := binary.BigEndian.AppendUint32(nil, claimed)
		b = binary.BigEndian.AppendUint32(b, crc)
		return append(b, payload...)
	}
	tests := []struct {
		name string
		// damage changes the last segment; whole is how many of the 8
		// records must survive.
		damage func(t *testing.T, seg string)
		whole  int
	}{
		{"nothing", func(*testing.T, string) {}, 8},
		{"short header", func(t *testing.T, seg string) { appendBytes(t, seg, []byte{0, 0, 1}) }, 8},
		{"short payload", func(t *testing.T, seg string) { appendBytes(t, seg, frame([]byte(`{"specv`), 300, 0)) }, 8},
		{"zero length", func(t *testing.T, seg string) { appendBytes(t, seg, make([]byte, 64)) }, 8},
		{"absurd length", func(t *testing.T, seg string) { appendBytes(t, seg, frame([]byte("xx"), 1<<30, 0)) }, 8},
		{"random garbage", func(t *testing.T, seg string) { appendBytes(t, seg, []byte("\xde\xad\xbe\xef garbage after a crash")) }, 8},
		{"checksum mismatch in last record", func(t *testing.T, seg string) { flipByte(t, seg, -10) }, 7},
		{"truncated mid record", func(t *testing.T, seg string) { truncateBy(t, seg, 25) }, 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			var g gate
			s := open(t, spool.Options{Dir: dir, Target: &sink{}, Connected: g.connected})
			var want []string
			for i := range 8 {
				ev := newEvent(t, i)
				want = append(want, ev.ID)
				if err := s.Publish(context.Background(), ev); err != nil {
					t.Fatal(err)
				}
			}
			// Abandoned, not closed: the process died.
			segs := segments(t, dir)
			tt.damage(t, segs[len(segs)-1])

			out := &sink{}
			s2 := open(t, spool.Options{Dir: dir, Target: out, Connected: g.connected})
			if got := s2.Stats().Events; got != tt.whole {
				t.Fatalf("after reopen: %d events, want %d", got, tt.whole)
			}
			for _, seg := range segments(t, dir) {
				if n, rest := frames(t, seg); rest != 0 {
					t.Fatalf("%s: %d bytes after %d whole records were not truncated", filepath.Base(seg), rest, n)
				}
			}
			extra := newEvent(t, 100)
			if err := s2.Publish(context.Background(), extra); err != nil {
				t.Fatal(err)
			}
			g.up.Store(true)
			run(t, s2)
			want = append(want[:tt.whole], extra.ID)
			bustest.Eventually(t, "replay", func() bool { return len(out.ids()) == len(want) })
			if got := out.ids(); !slices.Equal(got, want) {
				t.Fatalf("replayed\n got %v\nwant %v", got, want)
			}
		})
	}
}

// TestUnreadableFiles: junk in the spool directory never blocks a start.
func TestUnreadableFiles(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
	}{
		{"garbage segment", map[string]string{"00000000000000000007.seg": "not a spool file at all"}},
		{"empty segment", map[string]string{"00000000000000000003.seg": ""}},
		{"garbage cursor", map[string]string{"cursor": "banana"}},
		{"cursor past the end", map[string]string{"cursor": "99 123456\n"}},
		{"garbage drop report", map[string]string{"dropped.json": "{"}},
		{"foreign files", map[string]string{"README": "hi", "x.seg.tmp": "junk"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o640); err != nil {
					t.Fatal(err)
				}
			}
			var g gate
			out := &sink{}
			s := open(t, spool.Options{Dir: dir, Target: out, Connected: g.connected})
			if n := s.Stats().Events; n != 0 {
				t.Fatalf("%d events from junk", n)
			}
			ev := newEvent(t, 1)
			if err := s.Publish(context.Background(), ev); err != nil {
				t.Fatal(err)
			}
			g.up.Store(true)
			run(t, s)
			bustest.Eventually(t, "replay", func() bool { return len(out.ids()) == 1 })
		})
	}
}

// TestCursorResumes: a restart after a partial replay continues where the
// saved cursor points, and what it replays again is at most the unsaved
// stretch.
func TestCursorResumes(t *testing.T) {
	dir := t.TempDir()
	var g gate
	s := open(t, spool.Options{Dir: dir, Target: &sink{}, Connected: g.connected, SegmentBytes: 4 << 10})
	var want []string
	for i := range 200 {
		ev := newEvent(t, i)
		want = append(want, ev.ID)
		if err := s.Publish(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(segments(t, dir)); n < 5 {
		t.Fatalf("want several segments, got %d", n)
	}
	// Replay 150 into a target that then stops the run, and abandon it.
	ctx, cancel := context.WithCancel(context.Background())
	first := &stopAfter{n: 150, cancel: cancel}
	g.up.Store(true)
	s2 := open(t, spool.Options{Dir: dir, Target: first, Connected: g.connected, SegmentBytes: 4 << 10})
	s2.Run(ctx)
	out := &sink{}
	s3 := open(t, spool.Options{Dir: dir, Target: out, Connected: g.connected, SegmentBytes: 4 << 10})
	left := s3.Stats().Events
	if left < 50 || left > 50+64 {
		t.Fatalf("after replaying 150 of 200: %d left, want 50..114 (cursor saved every 64)", left)
	}
	run(t, s3)
	bustest.Eventually(t, "replay", func() bool { return len(out.ids()) == left })
	if got := out.ids(); !slices.Equal(got, want[200-left:]) {
		t.Fatalf("resumed replay is not the tail in order")
	}
}

// stopAfter accepts n events and then cancels the run, like a kill.
type stopAfter struct {
	n      int
	cancel func()
	got    atomic.Int64
}

func (s *stopAfter) Publish(ctx context.Context, _ event.Encoded) error {
	if s.got.Load() >= int64(s.n) {
		s.cancel()
		return ctx.Err()
	}
	s.got.Add(1)
	return nil
}

func appendBytes(t *testing.T, path string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, path string, fromEnd int64) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[int64(len(b))+fromEnd] ^= 0xff
	if err := os.WriteFile(path, b, 0o640); err != nil {
		t.Fatal(err)
	}
}

func truncateBy(t *testing.T, path string, n int64) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, st.Size()-n); err != nil {
		t.Fatal(err)
	}
}

// frames parses a segment file independently of the spool: how many whole
// records it holds and how many bytes follow them.
func frames(t *testing.T, path string) (n int, rest int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for len(b) >= 8 {
		l := int(binary.BigEndian.Uint32(b))
		if l == 0 || 8+l > len(b) || crc32.Checksum(b[8:8+l], crc32.MakeTable(crc32.Castagnoli)) != binary.BigEndian.Uint32(b[4:]) {
			break
		}
		b = b[8+l:]
		n++
	}
	return n, len(b)
}

func copyDir(tb testing.TB, from, to string) {
	tb.Helper()
	ents, err := os.ReadDir(from)
	if err != nil {
		tb.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o640); err != nil {
			tb.Fatal(err)
		}
	}
}

package spool_test

import (
	"context"
	"testing"

	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/spool"
)

// BenchmarkSpoolAppend: one event (about 450 bytes) written and fsynced to
// the spool while NATS is away.
func BenchmarkSpoolAppend(b *testing.B) {
	var g gate
	s := open(b, spool.Options{Dir: b.TempDir(), Target: &sink{}, Connected: g.connected, MaxBytes: 1 << 30})
	ev := newEvent(b, 1)
	ctx := context.Background()
	b.SetBytes(450)
	b.ResetTimer()
	for b.Loop() {
		if err := s.Publish(ctx, ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSpoolReplay: spooled events read, decoded and handed to the
// target in order (the target stores nothing: this is the spool's cost,
// not JetStream's).
func BenchmarkSpoolReplay(b *testing.B) {
	const n = 5000
	var g gate
	dir := b.TempDir()
	s := open(b, spool.Options{Dir: dir, Target: &sink{}, Connected: g.connected, MaxBytes: 1 << 30})
	ev := newEvent(b, 1)
	for range n {
		if err := s.Publish(context.Background(), ev); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		// Re-open a copy each round: replay consumes the spool.
		round := b.TempDir()
		copyDir(b, dir, round)
		out := &sink{}
		g.up.Store(true)
		r := open(b, spool.Options{Dir: round, Target: out, Connected: g.connected, MaxBytes: 1 << 30})
		b.StartTimer()
		stop := run(b, r)
		bustest.Eventually(b, "replayed", func() bool { return r.Stats().Events == 0 })
		b.StopTimer()
		stop()
		g.up.Store(false)
		b.StartTimer()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "events/s")
}

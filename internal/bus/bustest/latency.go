package bustest

import (
	"context"
	"encoding/binary"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Pace calls f(i) for i in [0,n) at rate calls per second.
func Pace(rate, n int, f func(i int)) {
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := range n {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		f(i)
	}
}

// TransportLatency measures JetStream itself, the baseline delivery
// benchmarks compare with: n messages published at rate to a file-backed
// stream BENCH, each timed from publish to a durable consumer with explicit
// ack.
func TransportLatency(b *testing.B, js jetstream.JetStream, rate, n int) []time.Duration {
	b.Helper()
	ctx := context.Background()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "BENCH", Subjects: []string{"bench.>"}, Storage: jetstream.FileStorage}); err != nil {
		b.Fatal(err)
	}
	cons, err := js.CreateOrUpdateConsumer(ctx, "BENCH", jetstream.ConsumerConfig{Durable: "bench", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 4096})
	if err != nil {
		b.Fatal(err)
	}
	var mu sync.Mutex
	lat := make([]time.Duration, 0, n)
	done := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		d := time.Since(time.Unix(0, int64(binary.BigEndian.Uint64(m.Data()))))
		_ = m.Ack()
		mu.Lock()
		defer mu.Unlock()
		if lat = append(lat, d); len(lat) == n {
			close(done)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()
	Pace(rate, n, func(int) {
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], uint64(time.Now().UnixNano()))
		if _, err := js.PublishAsync("bench.x", buf[:]); err != nil {
			b.Error(err)
		}
	})
	select {
	case <-done:
	case <-time.After(time.Minute):
		b.Fatal("transport: not all messages consumed")
	}
	return lat
}

// ReportLatency reports the p50 and p99 of lat in µs, names prefixed.
func ReportLatency(b *testing.B, prefix string, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	q := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) }
	b.ReportMetric(q(0.5), prefix+"p50-µs")
	b.ReportMetric(q(0.99), prefix+"p99-µs")
}

// Heap is the process's allocation counters at the start of a measured
// run, and the largest heap seen since.
type Heap struct {
	start runtime.MemStats
	stop  chan struct{}
	most  chan uint64
}

// WatchHeap reads the counters now (a short stop of the world) and samples
// the heap every 20 ms (runtime/metrics: no stop) until Report.
func WatchHeap() *Heap {
	h := &Heap{stop: make(chan struct{}), most: make(chan uint64, 1)}
	runtime.ReadMemStats(&h.start)
	go func() {
		s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
		var most uint64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			most = max(most, s[0].Value.Uint64())
			select {
			case <-h.stop:
				h.most <- most
				return
			case <-t.C:
			}
		}
	}()
	return h
}

// Report adds what the process allocated per item since WatchHeap
// (alloc-KB/item: everything in the process, nats-server and the fakes
// too) and the collections that ran (gcs). At a steady rate the share of
// time the collector marks grows with the bytes allocated per item, not
// with the live heap, so this is the number behind a tail of marks. The
// largest heap seen (heap-max-MB, live and not yet collected) is what the
// collector's settings cost in memory; gogc is the setting.
func (h *Heap) Report(b *testing.B, n int) {
	var now runtime.MemStats
	runtime.ReadMemStats(&now)
	b.ReportMetric(float64(now.TotalAlloc-h.start.TotalAlloc)/1024/float64(n), "alloc-KB/item")
	b.ReportMetric(float64(now.NumGC-h.start.NumGC), "gcs")
	close(h.stop)
	b.ReportMetric(float64(<-h.most)/(1<<20), "heap-max-MB")
	gc := debug.SetGCPercent(-1) // a read: the setting is put back at once
	debug.SetGCPercent(gc)
	b.ReportMetric(float64(gc), "gogc")
}

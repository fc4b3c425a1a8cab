package bustest

import (
	"context"
	"encoding/binary"
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

package ingest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/event"
)

// BenchmarkIngest measures events/s through HTTP into JetStream (file
// storage) on loopback: one event per request, and batches of 100.
func BenchmarkIngest(b *testing.B) {
	for _, size := range []int{1, 100} {
		b.Run(fmt.Sprintf("batch=%d", size), func(b *testing.B) {
			f := newFixture(b, nil)
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
			ct := event.ContentType
			if size > 1 {
				ct = BatchContentType
			}
			n := 0
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				evs := make([]string, size)
				for j := range evs {
					evs[j] = ce(fmt.Sprintf("bench-%d-%d", i, j), "rpc.timeout")
				}
				body := evs[0]
				if size > 1 {
					body = batch(evs...)
				}
				resp, err := client.Post(f.url+PathEvents, ct, strings.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusAccepted {
					b.Fatalf("status %d", resp.StatusCode)
				}
				n += size
			}
			b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

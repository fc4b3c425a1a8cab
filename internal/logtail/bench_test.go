package logtail

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// BenchmarkTail measures lines/s read from a CRI log file: the tailer alone,
// and the whole source (CRI parse, the default patterns, 1 line in 100 a
// timeout, rollup).
func BenchmarkTail(b *testing.B) {
	const block = 10000
	line := "2020-06-14T13:15:41.123456789Z stdout F GET /v1/users/42 200 3ms user-agent=curl/8.0 trace=4bf92f3577b34da6\n"
	hit := "2020-06-14T13:15:41.123456789Z stderr F rpc error: code = DeadlineExceeded desc = context deadline exceeded\n"
	var sb strings.Builder
	for i := range block {
		if i%100 == 0 {
			sb.WriteString(hit)
		} else {
			sb.WriteString(line)
		}
	}
	data := []byte(sb.String())
	for _, full := range []bool{false, true} {
		name := "tailer"
		if full {
			name = "source"
		}
		b.Run(name, func(b *testing.B) {
			dir := b.TempDir()
			path := filepath.Join(dir, "order-1_prod_app-"+strings.Repeat("0f", 32)+".log")
			f, err := os.Create(path)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			ps, err := LoadPatterns("")
			if err != nil {
				b.Fatal(err)
			}
			src, err := New(Config{Globs: []string{filepath.Join(dir, "*.log")}, Patterns: ps, StateDir: dir}, quiet())
			if err != nil {
				b.Fatal(err)
			}
			defer src.tailer.Close()
			src.now = func() time.Time { return time.Date(2020, 6, 14, 13, 15, 41, 0, time.UTC) }
			rec := &recorder{}
			ctx := context.Background()
			src.poll(ctx, rec)
			lines := 0
			for b.Loop() {
				if _, err := f.Write(data); err != nil {
					b.Fatal(err)
				}
				if full {
					src.poll(ctx, rec)
					lines += block
				} else {
					src.tailer.Poll(func(Line) { lines++ })
				}
			}
			b.ReportMetric(float64(lines)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}

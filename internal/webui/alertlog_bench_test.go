package webui

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
)

// BenchmarkAlertLogTake is the web view's share of an alert storm: every
// alert the router publishes reaches the log once. Each is a distinct
// alert with one evidence event, as pipeline-test raises them; the log is
// full (MaxAlerts), so it evicts as it goes. live-B/alert is the heap the
// full log holds per alert after a collection.
func BenchmarkAlertLogTake(b *testing.B) {
	const n = 4096
	msgs := make([][]byte, n)
	subjects := make([]string, n)
	ids := make([]string, n)
	t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	for i := range n {
		node := fmt.Sprintf("node%d", i)
		e, err := event.New("app.test", "bench/"+node, "dev", node, t0, map[string]any{"message": "hello", "seq": i})
		if err != nil {
			b.Fatal(err)
		}
		a := &alert.Alert{
			Fingerprint: alert.Fingerprint("pipeline-test", "dev/"+node), Rule: "pipeline-test", Severity: "info", State: alert.Firing,
			Labels:  map[string]string{"alertname": "pipeline-test", "cluster": "dev", "node": node, "severity": "info"},
			Summary: "test event from " + node + " in dev: hello", GroupKey: "dev/" + node, Receivers: []string{"oncall"},
			WindowStart: t0, WindowEnd: t0, StartsAt: t0, Evidence: []event.Event{*e}, EvidenceSeen: 1, CreatedAt: t0,
		}
		a.ID = alert.MakeID(a.Fingerprint, a.WindowStart, a.State)
		if msgs[i], err = a.Encode(); err != nil {
			b.Fatal(err)
		}
		subjects[i], ids[i] = a.Subject(), a.ID
	}
	l := newAlertLog(slog.New(slog.NewTextHandler(io.Discard, nil)))
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		// n > MaxAlerts: an alert is evicted before it comes round again,
		// so each is new to the log; the copy is NATS's (a message's data
		// is its own).
		k := i % n
		l.take(subjects[k], ids[k], bytes.Clone(msgs[k]))
		i++
	}
	b.StopTimer()
	kept := len(l.byFP)
	if kept == 0 {
		b.Fatal("the log kept nothing")
	}
	// the heap the log holds: what a collection frees once it is gone
	var with, without runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&with)
	l.byFP, l.lru = nil, nil
	runtime.GC()
	runtime.ReadMemStats(&without)
	b.ReportMetric(float64(int64(with.HeapAlloc)-int64(without.HeapAlloc))/float64(kept), "live-B/alert")
}

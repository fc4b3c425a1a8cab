package dispatch_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/notify/notifytest"
	"github.com/aftershock/aftershock/internal/route"
)

// fleetAlert is a node-down alert of a large fleet as the pack raises it:
// labels, a summary and details, four heartbeats of evidence.
func fleetAlert(i int, now time.Time) *alert.Alert {
	node := fmt.Sprintf("node-%05d", i)
	cluster := fmt.Sprintf("c%02d", i%20)
	fp := alert.Fingerprint("node-down", cluster+"/"+node)
	a := &alert.Alert{ID: alert.MakeID(fp, now, alert.Firing), Fingerprint: fp, Rule: "node-down", Severity: "warning",
		State: alert.Firing, GroupKey: cluster + "/" + node, Labels: map[string]string{"cluster": cluster, "node": node},
		Headline: node + " down", Summary: node + " silent for 60s: no heartbeat since " + now.Format(time.RFC3339),
		Details:  "The collector on " + node + " stopped sending heartbeats; the node, its network or the collector is down.",
		StartsAt: now, WindowStart: now, WindowEnd: now, CreatedAt: now, RulesVersion: "bench"}
	for j := range 4 {
		a.Evidence = append(a.Evidence, event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("ev-%d-%d", i, j), Source: "aftershock/collector/" + node,
			Type: event.TypeHeartbeat, Time: now.Add(-time.Duration(4-j) * 10 * time.Second), Cluster: cluster, Node: node, Subject: node,
			Data: []byte(`{"boot_id":"281c2a66-2bb2-4274-b979-e1f50cc56fd0","uptime_seconds":86400.5,"interval_seconds":10}`)})
	}
	return a
}

// storeFleetAlerts writes n firing alerts in ALERT_STATE, as a notifier
// would have after a fleet-wide incident, with the notification logs of
// their groups (the pack's routing: by rule and cluster) and a history
// per alert.
func storeFleetAlerts(tb testing.TB, st *dispatch.KVStore, n int) {
	tb.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	var last dispatch.Pending
	for i := range n {
		a := fleetAlert(i, now)
		last = st.PutAlert(&dispatch.AlertRecord{Alert: a, Updated: now})
		st.PutHistory(&dispatch.History{Fingerprint: a.Fingerprint, Deliveries: []dispatch.Delivery{
			{At: now, Receiver: "console", Kind: "page", AlertID: a.ID, Outcome: "sent", Attempts: 1}}})
		if i%1000 == 999 || i == n-1 {
			if err := last.Wait(ctx); err != nil { // a write's result is read once
				tb.Fatal(err)
			}
		}
	}
}

func heapMB() float64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return float64(m.HeapAlloc) / 1e6
}

// BenchmarkRestore: what a start spends on stored alert state: the
// notifier's restore (Dispatcher.Start) and the web view's load
// (WatchState), with n unresolved alerts in ALERT_STATE, and the heap
// each leaves.
func BenchmarkRestore(b *testing.B) {
	for _, n := range []int{57_000} {
		b.Run(fmt.Sprintf("alerts=%d", n), func(b *testing.B) {
			ctx := context.Background()
			c := bustest.Connect(b, bustest.Server(b))
			seed, err := dispatch.NewKVStore(ctx, c.JS, bus.BucketState)
			if err != nil {
				b.Fatal(err)
			}
			storeFleetAlerts(b, seed, n)
			seed.Close()
			routing, err := route.Load("../../rules")
			if err != nil {
				b.Fatal(err)
			}
			kv, err := c.JS.KeyValue(ctx, bus.BucketState)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				before := heapMB()
				start := time.Now()
				st, err := dispatch.NewKVStore(ctx, c.JS, bus.BucketState)
				if err != nil {
					b.Fatal(err)
				}
				d, err := dispatch.New(dispatch.Options{Routing: routing, Store: st, Log: bustest.Logger(b),
					Targets: []dispatch.Target{{Receiver: notifytest.NewReceiver("console"), Coalesce: 1}}})
				if err != nil {
					b.Fatal(err)
				}
				if err := d.Start(ctx); err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(time.Since(start).Seconds(), "notifier-s")
				b.ReportMetric(heapMB()-before, "notifier-MB")
				before = heapMB()
				start = time.Now()
				wctx, cancel := context.WithCancel(ctx)
				v, err := dispatch.WatchState(wctx, kv, bustest.Logger(b))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(time.Since(start).Seconds(), "view-s")
				b.ReportMetric(heapMB()-before, "view-MB")
				if got := len(v.Alerts()); got != n {
					b.Fatalf("view holds %d alerts, want %d", got, n)
				}
				cancel()
				d.Close()
				st.Close()
			}
		})
	}
}

package dispatch_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
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

// benchRouting groups as the pack's routing does (by rule and cluster, to
// the console) with a short group_wait, so a bench sees its groups settle
// without waiting the pack's 30s.
const benchRouting = `resolve_timeout: 24h
route:
  receiver: console
  group_by: [rule, cluster]
  group_wait: 50ms
  group_interval: 200ms
  repeat_interval: 4h
receivers:
  - name: console
    console: {}
`

// storeFleetAlerts has a notifier take n firing alerts and tell them, as
// one would have after a fleet-wide incident: ALERT_STATE then holds the
// alerts, the notification logs of their groups (every alert told) and a
// history per alert, all written by the notifier itself.
func storeFleetAlerts(tb testing.TB, conn *bus.Conn, routing *route.Routing, n int) {
	tb.Helper()
	ctx := context.Background()
	st, err := dispatch.NewKVStore(ctx, conn.JS, bus.BucketState)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	recv := notifytest.NewReceiver("console")
	d, err := dispatch.New(dispatch.Options{Routing: routing, Store: st, Log: bustest.Logger(tb),
		Targets: []dispatch.Target{{Receiver: recv, Coalesce: 1}}})
	if err != nil {
		tb.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		tb.Fatal(err)
	}
	defer d.Close()
	now := time.Now().UTC()
	errs := make(chan error, n)
	for i := range n {
		d.Ingest(fleetAlert(i, now), func(err error) { errs <- err })
	}
	for range n {
		if err := <-errs; err != nil {
			tb.Fatal(err)
		}
	}
	kv, err := conn.JS.KeyValue(ctx, bus.BucketState)
	if err != nil {
		tb.Fatal(err)
	}
	// Told once the groups' stored logs name every alert.
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		ids := map[string]bool{}
		for _, nt := range recv.Sent() {
			for _, m := range nt.Messages {
				ids[m.GroupID] = true
			}
		}
		told := 0
		for id := range ids {
			e, err := kv.Get(ctx, "nflog."+id)
			if err != nil {
				continue
			}
			var l dispatch.LogRecord
			if err := json.Unmarshal(e.Value(), &l); err != nil {
				tb.Fatal(err)
			}
			told += len(l.Firing)
		}
		if told == n {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("notification logs name %d alerts of %d", told, n)
		}
	}
}

// heapMB is the live heap once collections stop freeing more: what a
// closed notifier's goroutines still held a moment ago (a stopped
// watcher draining, a timer's last run) is freed only by a later one.
func heapMB() float64 {
	var m runtime.MemStats
	last := math.Inf(1)
	for range 20 {
		runtime.GC()
		runtime.ReadMemStats(&m)
		mb := float64(m.HeapAlloc) / 1e6
		if last-mb < 1 {
			return mb
		}
		last = mb
		time.Sleep(20 * time.Millisecond)
	}
	return last
}

// BenchmarkRestore: what a start spends on stored alert state: the
// notifier's restore (Dispatcher.Start) and the web view's load
// (WatchState), with n unresolved alerts in ALERT_STATE, all told, and the
// heap each holds (the view's as loaded, after the firing metric's scrape
// and after a page read every alert) (the notifier's once its groups have flushed after
// group_wait and found nothing to say); page-s is how long a new alert
// then takes to reach the receiver (group_wait 50 ms included) in a
// message that carries its group's 2 850 restored alerts.
func BenchmarkRestore(b *testing.B) {
	for _, n := range []int{57_000} {
		b.Run(fmt.Sprintf("alerts=%d", n), func(b *testing.B) {
			ctx := context.Background()
			c := bustest.Connect(b, bustest.Server(b))
			routing, probs := route.Parse("routing.yaml", []byte(benchRouting))
			if len(probs) > 0 {
				b.Fatal(probs)
			}
			storeFleetAlerts(b, c, routing, n)
			kv, err := c.JS.KeyValue(ctx, bus.BucketState)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				alive, secs, page := restartNotifier(b, c, routing)
				b.ReportMetric(secs, "notifier-s")
				b.ReportMetric(page, "page-s")
				// A closed notifier's last timers and goroutines let go of
				// it within a moment, not always by the next collections.
				time.Sleep(time.Second)
				b.ReportMetric(alive-heapMB(), "notifier-MB")
			}
			// The views come after all the notifiers: a view lingers a while
			// after its context ends, and would weigh in their heaps.
			for range b.N {
				before := heapMB()
				start := time.Now()
				wctx, cancel := context.WithCancel(ctx)
				v, err := dispatch.WatchState(wctx, kv, bustest.Logger(b))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(time.Since(start).Seconds(), "view-s")
				b.ReportMetric(heapMB()-before, "view-MB")
				// The firing metric's scrape: briefs, nothing kept decoded.
				firing := 0
				v.Briefs(func(a dispatch.AlertBrief) {
					if a.State == alert.Firing {
						firing++
					}
				})
				b.ReportMetric(heapMB()-before, "view-scraped-MB")
				// The first read decodes every record (the alert list after
				// a start), and keeps them.
				read := time.Now()
				got := len(v.Alerts())
				b.ReportMetric(time.Since(read).Seconds(), "view-read-s")
				b.ReportMetric(heapMB()-before, "view-read-MB")
				if firing != got {
					b.Fatalf("%d firing briefs, %d alerts", firing, got)
				}
				if got != n+1 { // and the one each restart adds
					b.Fatalf("view holds %d alerts, want %d", got, n+1)
				}
				cancel()
			}
		})
	}
}

// restartNotifier starts a notifier on the stored state, waits until its
// groups have flushed after group_wait (finding nothing to say: every
// alert was told), and returns the heap then (MB), how long Start took, and
// how long a new alert then took to reach the receiver.
// What the notifier holds is that heap less the heap once it is closed
// (measured back to back, so the embedded server's caches, which come and
// go with its reads, weigh the same in both).
func restartNotifier(b *testing.B, c *bus.Conn, routing *route.Routing) (alive, secs, pageSecs float64) {
	ctx := context.Background()
	start := time.Now()
	st, err := dispatch.NewKVStore(ctx, c.JS, bus.BucketState)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	recv := notifytest.NewReceiver("console")
	d, err := dispatch.New(dispatch.Options{Routing: routing, Store: st, Log: bustest.Logger(b),
		Targets: []dispatch.Target{{Receiver: recv, Coalesce: 1}}})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	secs = time.Since(start).Seconds()
	time.Sleep(20 * routing.Root.GroupWait)
	if got := len(recv.Sent()); got != 0 {
		b.Fatalf("%d notifications after the restart, with every alert told", got)
	}
	alive = heapMB()
	// Then one more alert in a group: its message carries the group's
	// restored alerts too.
	start = time.Now()
	d.Ingest(fleetAlert(57_000, time.Now().UTC()), func(error) {})
	for len(recv.Sent()) == 0 {
		if time.Since(start) > time.Minute {
			b.Fatal("no message a minute after a new alert")
		}
		time.Sleep(time.Millisecond)
	}
	pageSecs = time.Since(start).Seconds()
	// Closed once the group's log names it, so the next start owes nothing.
	kv, err := c.JS.KeyValue(ctx, bus.BucketState)
	if err != nil {
		b.Fatal(err)
	}
	m := recv.Sent()[0].Messages[0]
	for a := m.Firing[len(m.Firing)-1]; ; time.Sleep(10 * time.Millisecond) {
		var l dispatch.LogRecord
		if e, err := kv.Get(ctx, "nflog."+m.GroupID); err == nil && json.Unmarshal(e.Value(), &l) == nil && l.Firing[a.Fingerprint] == a.ID {
			break
		}
		if time.Since(start) > time.Minute {
			b.Fatal("the group's log does not name the new alert")
		}
	}
	return alive, secs, pageSecs
}

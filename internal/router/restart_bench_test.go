package router_test

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/router"
)

// storeAlerts writes n firing alerts with evidence into ALERT_STATE, as a
// notifier would have after an incident across a large fleet.
func storeAlerts(tb testing.TB, c *bus.Conn, n int) {
	tb.Helper()
	ctx := context.Background()
	st, err := dispatch.NewKVStore(ctx, c.JS, bus.BucketState)
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	now := time.Now().UTC()
	var last dispatch.Pending
	for i := range n {
		node := fmt.Sprintf("node-%05d", i)
		fp := alert.Fingerprint("node-down", "c01/"+node)
		a := &alert.Alert{ID: alert.MakeID(fp, now, alert.Firing), Fingerprint: fp, Rule: "node-down", Severity: "warning",
			State: alert.Firing, GroupKey: "c01/" + node, Labels: map[string]string{"cluster": "c01", "node": node},
			Summary: node + " silent for 60s", StartsAt: now, WindowStart: now, WindowEnd: now, CreatedAt: now}
		for j := range 4 {
			a.Evidence = append(a.Evidence, event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("ev-%d-%d", i, j), Source: "bench",
				Type: event.TypeHeartbeat, Time: now, Cluster: "c01", Node: node,
				Data: []byte(`{"boot_id":"281c2a66-2bb2-4274-b979-e1f50cc56fd0","uptime_seconds":86400.5,"interval_seconds":10}`)})
		}
		last = st.PutAlert(&dispatch.AlertRecord{Alert: a, Updated: time.Now()})
		if i%1000 == 999 && i < n-1 { // a Pending is waited for once
			if err := last.Wait(ctx); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if last != nil {
		if err := last.Wait(ctx); err != nil {
			tb.Fatal(err)
		}
	}
}

// BenchmarkRestart: the time from a router's start to ready, with the
// window state of a fleet to rebuild (events: stored fleet events the
// pack's rules read back) and unresolved alerts in ALERT_STATE (alerts),
// and where it goes (start-<phase>-s). A first router consumes everything
// and stops; the measured one starts on the same streams. Run with
// -benchtime=1x.
func BenchmarkRestart(b *testing.B) {
	for _, tc := range []struct{ events, alerts int }{{0, 0}, {150_000, 0}, {0, 5_000}, {0, 57_000}, {150_000, 57_000}} {
		b.Run(fmt.Sprintf("events=%d/alerts=%d", tc.events, tc.alerts), func(b *testing.B) {
			for range b.N {
				s := bustest.Server(b)
				c := bustest.Connect(b, s)
				if tc.events > 0 {
					publishFleet(b, c.JS, tc.events, 5, 0)
				}
				if tc.alerts > 0 {
					storeAlerts(b, c, tc.alerts)
				}
				r, _ := consumeAll(b, s, c.JS, "router")
				r.Close()
				start := time.Now()
				r2, err := router.Start(context.Background(), router.Options{
					NATS: bus.Options{URL: s.ClientURL()}, RulesDir: packDir(b), HTTPAddr: "127.0.0.1:0",
					Console: &bustest.Buffer{}, StateDir: b.TempDir(), NoRulesWatch: true,
				}, bustest.Logger(b))
				if err != nil {
					b.Fatal(err)
				}
				b.ReportMetric(time.Since(start).Seconds(), "ready-s")
				for _, p := range []string{"rules", "connect", "web", "notifier", "evaluation"} {
					v, _ := strconv.ParseFloat(metric(b, r2, `aftershock_router_start_seconds{phase="`+p+`"}`), 64)
					b.ReportMetric(v, "start-"+p+"-s")
				}
				rebuilt, _ := strconv.ParseFloat(metric(b, r2, "aftershock_router_rebuild_events_total"), 64)
				b.ReportMetric(rebuilt, "rebuilt-events")
				r2.Close()
			}
		})
	}
}

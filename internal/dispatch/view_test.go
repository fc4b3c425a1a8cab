package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/dispatch"
)

// stateBucket is a KVStore on ALERT_STATE of a new server, and the bucket.
func stateBucket(t *testing.T) (*dispatch.KVStore, jetstream.KeyValue) {
	t.Helper()
	conn := bustest.Connect(t, bustest.Server(t))
	store, err := dispatch.NewKVStore(t.Context(), conn.JS, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	kv, err := conn.JS.KeyValue(t.Context(), bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	return store, kv
}

// TestStateView: a view watching ALERT_STATE sees what a KVStore writes,
// forgets what it purges, and leaves out (and counts) records that are
// not the store's, without losing the others.
func TestStateView(t *testing.T) {
	ctx := context.Background()
	store, kv := stateBucket(t)
	wait := func(p dispatch.Pending) {
		t.Helper()
		if err := p.Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	a1 := &alert.Alert{ID: "i1", Fingerprint: "fp1", Rule: "node-crash", State: alert.Firing}
	wait(store.PutAlert(&dispatch.AlertRecord{Alert: a1, Updated: time.Now()}))

	v, err := dispatch.WatchState(t.Context(), kv, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Alerts(); len(got) != 1 || got[0].Alert.ID != "i1" {
		t.Fatalf("initial load: %+v", got)
	}

	a2 := &alert.Alert{ID: "i2", Fingerprint: "fp2", Rule: "dns-timeouts", State: alert.Firing}
	wait(store.PutAlert(&dispatch.AlertRecord{Alert: a2, Updated: time.Now()}))
	wait(store.PutLog(&dispatch.LogRecord{GroupID: "g1", Receiver: "console", Firing: map[string]string{"fp2": "i2"}}))
	if _, err := kv.Put(ctx, "alert.junk", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "alert.empty", []byte(`{"updated":"2026-01-01T00:00:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "view follows writes", func() bool {
		return len(v.Alerts()) == 2 && len(v.Logs()) == 1 && v.Invalid() == 2
	})
	if got := v.Alert("fp2"); got == nil || got.Alert.Rule != "dns-timeouts" {
		t.Errorf("Alert(fp2) = %+v", got)
	}

	// A key rewritten before anyone reads it: the latest revision counts,
	// the invalid one before it is neither shown nor counted.
	if _, err := kv.Put(ctx, "alert.fp3", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	a3 := &alert.Alert{ID: "i3", Fingerprint: "fp3", Rule: "node-crash", State: alert.Firing}
	wait(store.PutAlert(&dispatch.AlertRecord{Alert: a3, Updated: time.Now()}))
	wait(store.PutHistory(&dispatch.History{Fingerprint: "fp3", Deliveries: []dispatch.Delivery{{Receiver: "console", Outcome: "sent"}}}))
	bustest.Eventually(t, "view follows a rewrite", func() bool {
		return v.History("fp3") != nil
	})
	if got := v.Alert("fp3"); got == nil || got.Alert.ID != "i3" {
		t.Errorf("Alert(fp3) = %+v, want the latest revision", got)
	}
	if n := v.Invalid(); n != 2 {
		t.Errorf("%d invalid records, want 2 (a rewritten bad revision is not one)", n)
	}
	wait(store.DeleteAlert("fp3"))

	wait(store.DeleteAlert("fp1"))
	wait(store.DeleteLog("g1"))
	if err := kv.Delete(ctx, "alert.junk"); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "view follows deletes", func() bool {
		return v.Alert("fp1") == nil && len(v.Logs()) == 0 && v.Invalid() == 1
	})
}

// TestStateViewBriefs: Briefs gives every stored alert's rule, severity,
// state and timeline as stored last, leaves out (and counts) a record that
// does not decode, and keeps none decoded (what it is for: the metric that
// reads it every scrape must not hold every alert decoded), while the
// pages still read the whole records.
func TestStateViewBriefs(t *testing.T) {
	ctx := context.Background()
	store, kv := stateBucket(t)
	v, err := dispatch.WatchState(t.Context(), kv, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	put := func(a alert.Alert) {
		t.Helper()
		if err := store.PutAlert(&dispatch.AlertRecord{Alert: &a, Updated: time.Now()}).Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	briefs := func() map[dispatch.AlertBrief]int {
		n := map[dispatch.AlertBrief]int{}
		v.Briefs(func(b dispatch.AlertBrief) { n[b]++ })
		return n
	}
	crash := dispatch.AlertBrief{Rule: "node-crash", Severity: "critical", State: alert.Firing}
	drill := dispatch.AlertBrief{Rule: "node-crash", Severity: "critical", State: alert.Firing, Drill: true}
	dns := dispatch.AlertBrief{Rule: "dns-timeouts", Severity: "warning", State: alert.Firing}
	// Before the alerts: the view sees the writes in order.
	if _, err := kv.Put(ctx, "alert.junk", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	put(alert.Alert{ID: "i1", Fingerprint: "fp1", Rule: "node-crash", Severity: "critical", State: alert.Firing})
	put(alert.Alert{ID: "i2", Fingerprint: "fp2", Rule: "node-crash", Severity: "critical", State: alert.Firing, Drill: true})
	put(alert.Alert{ID: "i3", Fingerprint: "fp3", Rule: "dns-timeouts", Severity: "warning", State: alert.Firing})
	bustest.Eventually(t, "the view has the three alerts", func() bool {
		n := briefs()
		return n[crash] == 1 && n[drill] == 1 && n[dns] == 1 && len(n) == 3
	})
	if n := v.Decoded(); n != 0 {
		t.Errorf("%d records kept decoded after Briefs, want 0", n)
	}
	if n := v.Invalid(); n != 1 {
		t.Errorf("%d invalid records, want 1 (Briefs found it)", n)
	}

	put(alert.Alert{ID: "i3", Fingerprint: "fp3", Rule: "dns-timeouts", Severity: "warning", State: alert.Resolved})
	resolved := dns
	resolved.State = alert.Resolved
	bustest.Eventually(t, "the brief of a rewritten alert", func() bool {
		n := briefs()
		return n[resolved] == 1 && n[dns] == 0
	})
	if got := v.Alerts(); len(got) != 3 || got[2].Alert.State != alert.Resolved {
		t.Fatalf("Alerts after Briefs: %d records, want 3 with fp3 resolved", len(got))
	}
	// Decoded by a page, then rewritten: the brief is the new revision's.
	put(alert.Alert{ID: "i1", Fingerprint: "fp1", Rule: "node-crash", Severity: "info", State: alert.Firing})
	bustest.Eventually(t, "the brief of an alert rewritten after a page read it", func() bool {
		n := briefs()
		return n[crash] == 0 && n[dispatch.AlertBrief{Rule: "node-crash", Severity: "info", State: alert.Firing}] == 1
	})
	if err := store.DeleteAlert("fp2").Wait(ctx); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "a deleted alert has no brief", func() bool { return briefs()[drill] == 0 })
}

package dispatch_test

import (
	"context"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/dispatch"
)

// TestStateView: a view watching ALERT_STATE sees what a KVStore writes,
// forgets what it purges, and leaves out (and counts) records that are
// not the store's, without losing the others.
func TestStateView(t *testing.T) {
	conn := bustest.Connect(t, bustest.Server(t))
	ctx := context.Background()
	store, err := dispatch.NewKVStore(ctx, conn.JS, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	kv, err := conn.JS.KeyValue(ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
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

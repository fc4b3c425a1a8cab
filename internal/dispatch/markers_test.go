package dispatch

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
)

// TestDeleteMarkersPurged: a start purges the markers deleted alerts left
// once they are older than markerAge, and keeps younger ones (a watcher
// may not have seen them yet).
func TestDeleteMarkersPurged(t *testing.T) {
	for _, tc := range []struct {
		name   string
		age    time.Duration
		purged bool
	}{
		{"old marker", 0, true},
		{"recent marker", time.Hour, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			old := markerAge
			markerAge = tc.age
			t.Cleanup(func() { markerAge = old })
			ctx := context.Background()
			conn := bustest.Connect(t, bustest.Server(t))
			st, err := NewKVStore(ctx, conn.JS, bus.BucketState)
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			a := &alert.Alert{ID: "a1", Fingerprint: "fp1", Rule: "r", State: alert.Firing, StartsAt: now, CreatedAt: now}
			if err := st.PutAlert(&AlertRecord{Alert: a, Updated: now}).Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if err := st.DeleteAlert("fp1").Wait(ctx); err != nil {
				t.Fatal(err)
			}
			st.Close()

			next, err := NewKVStore(ctx, conn.JS, bus.BucketState)
			if err != nil {
				t.Fatal(err)
			}
			defer next.Close()
			recs, _, err := next.Load(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 0 {
				t.Fatalf("loaded %d alerts, want none: it was deleted", len(recs))
			}
			stream, err := conn.JS.Stream(ctx, "KV_"+bus.BucketState)
			if err != nil {
				t.Fatal(err)
			}
			marker := func() bool {
				_, err := stream.GetLastMsgForSubject(ctx, "$KV."+bus.BucketState+".alert.fp1")
				return !errors.Is(err, jetstream.ErrMsgNotFound)
			}
			if tc.purged {
				bustest.Eventually(t, "the marker purged", func() bool { return !marker() })
				return
			}
			next.Close() // the purge, if any, is done
			if !marker() {
				t.Fatal("a recent marker was purged")
			}
		})
	}
}

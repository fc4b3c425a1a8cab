package dispatch_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
)

// TestGracefulStopRepeatsNothing: a stop (a rolling update, a lease handed
// over) while a page is in flight lets the delivery end and logs it before
// the lifecycle stops, so the next start does not page again. The
// receiver answers only once its context ends or the test releases it:
// either way the remote took the page, as Slack has a post whose reply
// was slow.
func TestGracefulStopRepeatsNothing(t *testing.T) {
	conn := bustest.Connect(t, bustest.Server(t))
	r1 := startReal(t, conn)
	entered, release := make(chan struct{}, 1), make(chan struct{})
	r1.recv.SetHold(func(ctx context.Context) {
		select {
		case entered <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-ctx.Done():
		}
	})
	crash := mk("node-crash", "critical", "n1", alert.Firing, time.Now())
	publishAlert(t, conn.JS, crash)
	select {
	case <-entered:
	case <-time.After(30 * time.Second):
		t.Fatal("the page was never sent")
	}
	stopped := make(chan struct{})
	go func() { r1.stop(); close(stopped) }()
	// Let the stop get under way (the old one cancelled the delivery at
	// once); the outcome must not depend on it.
	time.Sleep(200 * time.Millisecond)
	close(release)
	<-stopped
	if got := fingerprints(r1); !slices.Equal(got, []string{"+n1"}) {
		t.Fatalf("first run told %v, want +n1", got)
	}
	if told := toldInLogs(t, conn); !told[crash.Fingerprint] {
		t.Fatalf("after the stop the notification logs name %v, not the page that went out", told)
	}

	r2 := startReal(t, conn)
	publishAlert(t, conn.JS, mk("disk", "critical", "n2", alert.Firing, time.Now()))
	bustest.Eventually(t, "the second run's page", func() bool { return slices.Contains(fingerprints(r2), "+n2") })
	if got := fingerprints(r2); slices.Contains(got, "+n1") {
		t.Fatalf("the second run paged n1 again: %v", got)
	}
}

// toldInLogs reads the notification logs in ALERT_STATE as a start
// does: the fingerprints they name as told firing.
func toldInLogs(t *testing.T, conn *bus.Conn) map[string]bool {
	t.Helper()
	_, logs, err := loadState(t, conn)
	if err != nil {
		t.Fatal(err)
	}
	told := map[string]bool{}
	for _, l := range logs {
		for fp := range l.Firing {
			told[fp] = true
		}
	}
	return told
}

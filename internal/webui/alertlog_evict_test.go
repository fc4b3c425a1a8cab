package webui

import (
	"fmt"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
)

// TestAlertLogEvicts: past MaxAlerts the alerts changed longest ago are
// dropped, a tenth of the cap at once, and the latest are kept.
func TestAlertLogEvicts(t *testing.T) {
	l := &AlertLog{max: 100, byFP: map[string][]*alert.Alert{}, seen: map[string]time.Time{}}
	for i := range 250 {
		fp := fmt.Sprintf("fp-%03d", i)
		l.add(&alert.Alert{ID: "id-" + fp, Fingerprint: fp})
		if n := len(l.byFP); n > 100 || n != len(l.seen) {
			t.Fatalf("after %d alerts: %d kept (%d seen), cap 100", i+1, n, len(l.seen))
		}
	}
	for i := 240; i < 250; i++ {
		if l.byFP[fmt.Sprintf("fp-%03d", i)] == nil {
			t.Fatalf("fp-%03d, among the latest, was dropped", i)
		}
	}
	if l.byFP["fp-000"] != nil {
		t.Fatal("the oldest alert was kept")
	}
}

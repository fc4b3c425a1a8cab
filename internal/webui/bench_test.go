package webui_test

import (
	"testing"

	"github.com/aftershock/aftershock/internal/webauth"
)

// BenchmarkAlertPage serves the late-reboot drill's crash page: the
// EVENTS read of its cluster (600 events), the chart, the templates.
func BenchmarkAlertPage(b *testing.B) {
	s := newStand(b, webauth.Options{})
	s.replay("late-reboot", "prod-gz", 0, "")
	fp := s.crashFingerprint("10.2.0.29")
	for b.Loop() {
		if code, _ := s.get("/alerts/"+fp, false); code != 200 {
			b.Fatal(code)
		}
	}
}

// BenchmarkIndex serves the alert list.
func BenchmarkIndex(b *testing.B) {
	s := newStand(b, webauth.Options{})
	s.replay("late-reboot", "prod-gz", 0, "")
	s.crashFingerprint("10.2.0.29")
	for b.Loop() {
		if code, _ := s.get("/alerts", false); code != 200 {
			b.Fatal(code)
		}
	}
}

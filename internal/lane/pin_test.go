package lane_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/lane"
)

// pinnedLane acquires a pinned lane whose pin lapses only after an hour,
// keeping its pin id in pinFile.
func pinnedLane(t *testing.T, c *bus.Conn, pinFile string) *lane.Lane {
	t.Helper()
	return acquireLane(t, c, func(cfg *lane.Config) {
		cfg.Pinned, cfg.PinnedTTL, cfg.PinFile = true, time.Hour, pinFile
	})
}

// TestPinTakenBackAfterACrash: a router that crashed holding a lane's pin
// and starts again (the same router id, the same state directory) takes
// the lane at once: it unpins the pin its previous process kept, instead
// of leaving the lane's events waiting for the pin to lapse (an hour
// here, --member-ttl in a router).
func TestPinTakenBackAfterACrash(t *testing.T) {
	s := bustest.Server(t)
	c1, c2 := bustest.Connect(t, s), bustest.Connect(t, s)
	pin := filepath.Join(t.TempDir(), "pins", "test")
	first := pinnedLane(t, c1, pin)
	publishEvent(t, c1, "aftershock.test", "ev-1")
	bustest.Eventually(t, "the first process evaluates ev-1", func() bool {
		return first.Engine().Stats().Rules["each"].Matched == 1
	})
	if b, err := os.ReadFile(pin); err != nil || strings.TrimSpace(string(b)) == "" {
		t.Fatalf("pin id not kept: %q, %v", b, err)
	}
	c1.NC.Close() // the process dies holding the pin

	second := pinnedLane(t, c2, pin)
	t.Cleanup(second.Release)
	publishEvent(t, c2, "aftershock.test", "ev-2")
	bustest.Eventually(t, "the next process evaluates ev-2 without waiting for the pin to lapse", func() bool {
		return second.Engine().Stats().Rules["each"].Matched >= 1
	})
}

package webui

import (
	"context"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
)

// TestCrashMemory: the incident page says the memory as the messages do
// (brief.MemoryBefore, tested there), and where a dated snapshot came from.
func TestCrashMemory(t *testing.T) {
	mem := &event.Meminfo{MemTotalKB: 16266500, MemAvailableKB: 6181270}
	for _, tc := range []struct {
		name string
		r    event.Reboot
		want string
	}{
		{"dated cause", event.Reboot{Meminfo: mem, MeminfoSource: event.MeminfoFromHeartbeat, MeminfoAgeSeconds: 16},
			"5.9 GiB of 15.5 GiB available (38%), 16s before the crash (heartbeat)"},
		{"undated cause", event.Reboot{Meminfo: mem, MeminfoSource: event.MeminfoFromHeartbeat},
			"5.9 GiB of 15.5 GiB available (38%), at the last heartbeat"},
		{"the kernel report's own", event.Reboot{Meminfo: mem, MeminfoSource: event.MeminfoFromReport},
			"5.9 GiB of 15.5 GiB available (38%)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := event.New(event.TypeReboot, "test", "prod", "n1", time.Date(2021, 11, 5, 6, 34, 40, 0, time.UTC), tc.r)
			if err != nil {
				t.Fatal(err)
			}
			// A drill: no live posture is looked up.
			a := &alert.Alert{Drill: true, Labels: map[string]string{"node": "n1", "cluster": "prod"}, Evidence: []event.Event{*ev}}
			c := (&UI{}).crashOf(context.Background(), a, nil)
			if c == nil || c.Memory != tc.want {
				t.Fatalf("memory %+v, want %q", c, tc.want)
			}
		})
	}
}

package collector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/collector"
	"github.com/aftershock/aftershock/internal/event"
)

// TestPostureSaysTheKernelUpgrade: a node booted another kernel than its
// previous boot's; its first node.posture says the previous one (rules judge
// the upgrade where the old kernel's exposure is), and the next posture,
// read a second later, no longer does.
func TestPostureSaysTheKernelUpgrade(t *testing.T) {
	const prevID, curID = "281c2a66-2bb2-4274-b979-e1f50cc56fd0", "6c1d8f0e-58a4-4c36-9d64-3f6f8d1b2a77"
	root, state := t.TempDir(), t.TempDir()
	writeTree(t, root, map[string]string{
		"proc/sys/kernel/random/boot_id": curID + "\n",
		"proc/stat":                      "cpu  1 2 3 4\nbtime 1592111706\n",
		"proc/uptime":                    "30.5 60.1\n",
		"proc/sys/kernel/osrelease":      "4.15.0-101-generic\n",
	})
	writeTree(t, state, map[string]string{
		"reboot/boot.json": fmt.Sprintf(`{"boot_id":%q,"boot_time":"2020-06-11T02:58:02Z","kernel_release":"4.4.0-104-generic"}`, prevID),
		"reboot/heartbeat": prevID + " 2020-06-17T07:00:30Z\n",
	})
	s := bustest.Server(t)
	conn := bustest.Connect(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- collector.Run(ctx, collector.Options{
			NATS: bus.Options{URL: s.ClientURL()}, Cluster: "prod", Node: "172.21.128.47",
			HostRoot: root, StateDir: state, HTTPAddr: "127.0.0.1:0",
			Heartbeat: time.Hour, PostureEvery: time.Second,
		}, bustest.Logger(t))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	var postures []event.Posture
	var reboot event.Reboot
	bustest.Eventually(t, "a reboot and two postures", func() bool {
		postures = postures[:0]
		for _, ev := range eventsOn(t, conn.JS, "events.prod.172_21_128_47.>") {
			switch ev.Type {
			case event.TypePosture:
				var p event.Posture
				if json.Unmarshal(ev.Data, &p) == nil {
					postures = append(postures, p)
				}
			case event.TypeReboot:
				_ = json.Unmarshal(ev.Data, &reboot)
			}
		}
		return len(postures) >= 2 && reboot.BootID != ""
	})
	if reboot.PreviousKernel != "4.4.0-104-generic" || !reboot.Clean && reboot.Cause == "" {
		t.Fatalf("reboot %+v", reboot)
	}
	if p := postures[0]; p.KernelRelease != "4.15.0-101-generic" || p.PreviousKernel != "4.4.0-104-generic" {
		t.Fatalf("first posture: kernel %q previous %q", p.KernelRelease, p.PreviousKernel)
	}
	if p := postures[1]; p.KernelRelease != "4.15.0-101-generic" || p.PreviousKernel != "" {
		t.Fatalf("second posture: kernel %q previous %q", p.KernelRelease, p.PreviousKernel)
	}
}

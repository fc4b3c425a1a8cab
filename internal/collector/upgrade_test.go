package collector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
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

// TestRebootSaysThePodsThatDied: the collector's posture names the pods and
// their IPs (from the fixture host's /proc); after the node boots again, its
// node.reboot carries the pods of the previous boot's last posture, IPs
// included, although the new posture has other pods.
func TestRebootSaysThePodsThatDied(t *testing.T) {
	const bootA, bootB = "281c2a66-2bb2-4274-b979-e1f50cc56fd0", "6c1d8f0e-58a4-4c36-9d64-3f6f8d1b2a77"
	const uid = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
	root, state := t.TempDir(), t.TempDir()
	fib := "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 172.16.3.66\n        /32 host LOCAL\n"
	writeTree(t, root, map[string]string{
		"proc/sys/kernel/random/boot_id": bootA + "\n",
		"proc/stat":                      "cpu  1 2 3 4\nbtime 1592111706\n",
		"proc/uptime":                    "3000.5 60.1\n",
		"proc/sys/kernel/osrelease":      "5.15.0-91-generic\n",
		"proc/1/net/fib_trie":            "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 10.2.0.29\n        /32 host LOCAL\n",
		"proc/4242/cgroup":               "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod6f1c2d3e_4b5a_4c6d_8e7f_9a0b1c2d3e4f.slice/cri-containerd-8f0e3c1d5a7b9e2f4c6d8a0b1e3f5c7d.scope\n",
		"proc/4242/net/fib_trie":         fib,
		"var/log/pods/kube-system_coredns-5c98db65d4-q7wzt_" + uid + "/": "",
	})
	s := bustest.Server(t)
	conn := bustest.Connect(t, s)
	run := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- collector.Run(ctx, collector.Options{
				NATS: bus.Options{URL: s.ClientURL()}, Cluster: "prod", Node: "10.2.0.29",
				HostRoot: root, StateDir: state, HTTPAddr: "127.0.0.1:0", Heartbeat: time.Hour,
			}, bustest.Logger(t))
		}()
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	const subject = "events.prod.10_2_0_29.>"
	stop := run()
	bustest.Eventually(t, "the first boot's posture", func() bool {
		for _, ev := range eventsOn(t, conn.JS, subject) {
			var p event.Posture
			if ev.Type == event.TypePosture && json.Unmarshal(ev.Data, &p) == nil && len(p.Pods) == 1 && len(p.Pods[0].IPs) == 1 {
				return p.Pods[0].IPs[0] == "172.16.3.66"
			}
		}
		return false
	})
	stop()
	// The node crashes and boots again: CoreDNS runs elsewhere now.
	writeTree(t, root, map[string]string{"proc/sys/kernel/random/boot_id": bootB + "\n", "proc/uptime": "30.5 60.1\n"})
	if err := os.RemoveAll(filepath.Join(root, "var/log/pods/kube-system_coredns-5c98db65d4-q7wzt_"+uid)); err != nil {
		t.Fatal(err)
	}
	stop = run()
	defer stop()
	var r event.Reboot
	bustest.Eventually(t, "the reboot report", func() bool {
		for _, ev := range eventsOn(t, conn.JS, subject) {
			if ev.Type == event.TypeReboot && json.Unmarshal(ev.Data, &r) == nil {
				return true
			}
		}
		return false
	})
	want := []event.PodRef{{Namespace: "kube-system", Name: "coredns-5c98db65d4-q7wzt", UID: uid, IPs: []string{"172.16.3.66"}}}
	if r.PreviousBootID != bootA || !reflect.DeepEqual(r.PreviousPods, want) {
		t.Fatalf("reboot: previous boot %q, previous pods %+v", r.PreviousBootID, r.PreviousPods)
	}
}

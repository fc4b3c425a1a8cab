package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// The exposure drill's kernels and the bug of the 2020-06 incident.
const (
	exposedKernel  = "4.4.0-104-generic"
	exposedVersion = "#127-Ubuntu SMP Mon Dec 11 12:16:42 UTC 2017"
	fixedKernel    = "4.15.0-101-generic"
	fixedVersion   = "#102~16.04.1-Ubuntu SMP Mon May 11 11:38:16 UTC 2020"
	exposureBug    = "kernel BUG at include/linux/fs.h:2582!"
)

// kernelExposure is the 2020-06 incident at the scale of a fleet, answered
// at the first crash: 40 nodes, 38 on 4.4.0-104-generic (two canaries run
// 4.15 already). The first node dies of the fs.h:2582 BUG; the exposure
// warning names the 37 others at once. The team drains five nodes that are
// to be retired and upgrades the rest in batches of five (a clean reboot
// into 4.15, whose first posture names the kernel it left); the warning
// resolves when the last exposed node is upgraded.
func kernelExposure() *recording {
	r := newRecording("kernel-exposure", "prod-hz", "dexp", 4415)
	hz := func(day, hour, minute, sec int) time.Time {
		return time.Date(2020, 6, day, hour, minute, sec, 0, time.FixedZone("CST", 8*3600))
	}
	nodes := hosts("172.22.0.", 1, 40)
	canaries := map[string]bool{"172.22.0.39": true, "172.22.0.40": true}
	const dead = "172.22.0.7"
	boots := map[string]string{}
	for i, n := range nodes {
		boots[n] = fmt.Sprintf("0ea5%04d-4d0d-4e00-8000-%012d", i+1, i+1)
	}
	posture := func(n string, kernel, previous string, drained bool) event.Posture {
		p := event.Posture{
			BootID: boots[n], KernelRelease: kernel, KernelVersion: exposedVersion, OS: "Ubuntu 16.04.6 LTS",
			OSID: "ubuntu", OSVersionID: "16.04", Arch: "amd64", PreviousKernel: previous,
			Kdump: &event.KdumpState{Ready: true, CrashKernel: "384M-:128M", CrashLoaded: true, CrashDir: "/var/crash", CrashDirFreeMB: 41200},
			Pods: []event.PodRef{
				{Namespace: "aftershock", Name: "collector-" + octetName(n), UID: fmt.Sprintf("a0e1%04s-0000-4000-8000-000000000001", octetName(n))},
				{Namespace: "kube-system", Name: "kube-proxy-" + octetName(n), UID: fmt.Sprintf("b0e1%04s-0000-4000-8000-000000000002", octetName(n))},
			},
		}
		if kernel == fixedKernel {
			p.KernelVersion = fixedVersion
		}
		if !drained {
			p.Pods = append(p.Pods, event.PodRef{Namespace: "shop", Name: "order-5d8f7c9b4-" + octetName(n),
				UID: fmt.Sprintf("c0e1%04s-0000-4000-8000-000000000003", octetName(n))})
		}
		return p
	}
	// Every collector's posture at 09:00.
	start := hz(11, 9, 0, 0)
	for i, n := range nodes {
		kernel := exposedKernel
		if canaries[n] {
			kernel = fixedKernel
		}
		r.add(event.TypePosture, n, start.Add(time.Duration(i)*1500*time.Millisecond), posture(n, kernel, "", false))
	}
	// 10:51:58 the BUG; the node is back at 10:52:22 and says why at 10:52:48.
	lastBeat, bootTime, reported := hz(11, 10, 51, 50), hz(11, 10, 52, 22), hz(11, 10, 52, 48)
	ts := lastBeat.Add(8 * time.Second).Format("Jan 02 15:04:05")
	next := "d1ed0007-4d0d-4e00-8000-000000000007"
	r.add(event.TypeReboot, dead, reported, event.Reboot{
		PreviousBootID: boots[dead], BootID: next, BootTime: bootTime.UTC(), LastHeartbeat: lastBeat.UTC(),
		Clean: false, Cause: event.CauseKernelBug, CauseDetail: exposureBug, CauseType: event.TypeKernelBug,
		PreviousKernel: exposedKernel, Sources: []string{"journal"}, Meminfo: meminfo(77),
		LastWords: []string{
			ts + " host-172-22-0-7 kernel: ------------[ cut here ]------------",
			ts + " host-172-22-0-7 kernel: kernel BUG at /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h:2582!",
			ts + " host-172-22-0-7 kernel: invalid opcode: 0000 [#1] SMP",
			ts + " host-172-22-0-7 kernel: CPU: 5 PID: 30117 Comm: auplink Not tainted 4.4.0-104-generic #127-Ubuntu",
		},
	})
	boots[dead] = next
	r.add(event.TypePosture, dead, reported.Add(2*time.Second), posture(dead, exposedKernel, "", false))

	// 14:00 five nodes to be retired are drained: only node agents stay.
	retired := nodes[30:35]
	for i, n := range retired {
		r.add(event.TypePosture, n, hz(11, 14, 0, 0).Add(time.Duration(i)*20*time.Second), posture(n, exposedKernel, "", true))
	}
	// From 15:00 the others go to 4.15, five every 20 minutes: a clean
	// reboot, then a posture on the new kernel that names the old one.
	var upgrade []string
	for _, n := range nodes {
		if !canaries[n] && !slices.Contains(retired, n) {
			upgrade = append(upgrade, n)
		}
	}
	for i, n := range upgrade {
		t := hz(11, 15, 0, 0).Add(time.Duration(i/5)*20*time.Minute + time.Duration(i%5)*45*time.Second)
		next := fmt.Sprintf("f1ed%04d-4d0d-4e00-8000-%012d", i+1, i+1)
		r.add(event.TypeReboot, n, t.Add(75*time.Second), event.Reboot{
			PreviousBootID: boots[n], BootID: next, BootTime: t.Add(50 * time.Second).UTC(), LastHeartbeat: t.UTC(),
			Clean: true, Cause: event.CauseClean, CauseDetail: "orderly shutdown in the previous boot's log",
			PreviousKernel: exposedKernel, Sources: []string{"journal"},
		})
		boots[n] = next
		r.add(event.TypePosture, n, t.Add(77*time.Second), posture(n, fixedKernel, exposedKernel, false))
	}
	return r
}

// octetName is a node's last octet as a pod name suffix: 172.22.0.7 is n007.
func octetName(ip string) string {
	return fmt.Sprintf("n%03s", ip[strings.LastIndexByte(ip, '.')+1:])
}

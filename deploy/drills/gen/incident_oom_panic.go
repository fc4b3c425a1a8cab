package main

import (
	"fmt"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// oomPanic: a node that really died of memory, and must never be called
// "not OOM". Cluster prod-cd, eight nodes on Ubuntu 20.04 (5.4.0-150)
// with vm.panic_on_oom=1 (the team prefers a reboot to a node thrashing
// for an hour) and kdump ready. 10.7.0.5 runs one of the two CoreDNS
// replicas and a report job without a memory limit. Its heartbeats show
// 38 % of memory available up to the last one, 13 s before the job's
// burst exhausts memory: the OOM killer runs and panic_on_oom reboots the
// node (panic_on_oom panics before the OOM killer picks a victim).
// Lookups on the other nodes time out until CoreDNS moves. The node comes
// back, its collector reads the kdump dmesg (undated) and reports the
// reboot as the real one would: caused by a global OOM, with the last
// heartbeat's memory, which says 38 % available. The page must say OOM,
// never "not OOM".
func oomPanic() *recording {
	r := newRecording("oom-panic", "prod-cd", "doom", 4105)
	cd := func(hour, minute, sec int) time.Time {
		return time.Date(2021, 11, 5, hour, minute, sec, 0, cst)
	}
	const (
		kernel = "5.4.0-150-generic"
		dead   = "10.7.0.5"
	)
	var nodes []string
	boots := map[string]string{}
	for i := 1; i <= 8; i++ {
		n := fmt.Sprintf("10.7.0.%d", i)
		nodes = append(nodes, n)
		boots[n] = fmt.Sprintf("4105%04d-5a0e-4b00-8000-%012d", i, i)
	}
	pods := func(n string) []event.PodRef {
		oct := octet(n)
		out := []event.PodRef{
			{Namespace: kubeSystem, Name: "kube-proxy-p" + oct, UID: fmt.Sprintf("b2c3%04s-0000-4000-8000-000000000001", oct), HostNetwork: true},
			{Namespace: "shop", Name: "cart-5d8f7c6b9-c" + oct, UID: fmt.Sprintf("b2c3%04s-0000-4000-8000-000000000002", oct), IPs: []string{"172.20." + oct + ".30"}},
		}
		switch n {
		case dead:
			out = append(out,
				event.PodRef{Namespace: kubeSystem, Name: "coredns-7f89b7bc75-k2r9d", UID: "c0de0005-0000-4000-8000-000000000003", IPs: []string{"172.20.5.14"}},
				event.PodRef{Namespace: "bi", Name: "report-builder-27270870-x8v2q", UID: "b1b10005-0000-4000-8000-000000000004", IPs: []string{"172.20.5.41"}})
		case "10.7.0.2":
			out = append(out, event.PodRef{Namespace: kubeSystem, Name: "coredns-7f89b7bc75-w5m7n", UID: "c0de0002-0000-4000-8000-000000000003", IPs: []string{"172.20.2.11"}})
		}
		return out
	}
	posture := func(n string) event.Posture {
		return event.Posture{
			BootID: boots[n], KernelRelease: kernel, KernelVersion: "#167-Ubuntu SMP Wed May 24 13:34:37 UTC 2023", OS: "Ubuntu 20.04.6 LTS",
			OSID: "ubuntu", OSVersionID: "20.04", Arch: "amd64",
			Kdump: &event.KdumpState{Ready: true, CrashKernel: "512M-:192M", CrashLoaded: true, CrashDir: "/var/crash", CrashDirFreeMB: 64300},
			Pods:  pods(n),
		}
	}
	start := cd(14, 28, 0)
	for i, n := range nodes {
		r.add(event.TypePosture, n, start.Add(time.Duration(i)*700*time.Millisecond), posture(n))
	}
	death := cd(14, 32, 3)
	bootTime, reported := cd(14, 34, 12), cd(14, 34, 40)
	var lastBeat time.Time
	for i, n := range nodes {
		from := start.Add(time.Duration(i) * 700 * time.Millisecond)
		to, avail := reported, 71
		if n == dead {
			to, avail = death.Add(-12*time.Second), 38
		}
		if last := r.heartbeatsWithMemory(n, boots[n], start.Add(-30*24*time.Hour), from, to, 15*time.Second, avail); n == dead {
			lastBeat = last
		}
	}
	// Half the lookups go to the dead replica until its endpoint is
	// removed (the node NotReady, then the endpoint controller): about
	// three minutes.
	moved := cd(14, 35, 5)
	for _, n := range nodes {
		if n != dead {
			r.dnsOutage(n, clusterDNS, clusterName, death.Add(time.Second), moved, 50)
		}
	}
	// The kdump kernel's dmesg: monotonic times only, so the cause is not
	// dated and "since" is the last heartbeat.
	k := func(ts, text string) string { return "[" + ts + "] " + text }
	next := "41050005-5a0e-4b00-8000-00000000b005"
	r.add(event.TypeReboot, dead, reported, event.Reboot{
		PreviousBootID: boots[dead], BootID: next, BootTime: bootTime.UTC(), LastHeartbeat: lastBeat.UTC(),
		Clean: false, Cause: event.CauseOOM, CauseType: event.TypeKernelOOM,
		CauseDetail:    "java invoked oom-killer; global OOM (panic_on_oom)",
		PreviousKernel: kernel, Sources: []string{"kdump"}, Vmcore: "/var/crash/202111051432/dump.202111051432",
		PreviousPods: pods(dead),
		LastWords: []string{
			k("2591203.114511", "java invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=1000"),
			k("2591203.114560", "CPU: 3 PID: 91211 Comm: java Not tainted 5.4.0-150-generic #167-Ubuntu"),
			k("2591203.114700", "Mem-Info:"),
			k("2591203.114712", "active_anon:3921201 inactive_anon:2117 isolated_anon:0"),
			k("2591203.115190", "Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled"),
			k("2591203.123001", "---[ end Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled ]---"),
		},
		Meminfo: meminfo(38), MeminfoSource: event.MeminfoFromHeartbeat, MeminfoAt: lastBeat.UTC(),
	})
	boots[dead] = next
	after := posture(dead)
	after.Pods = after.Pods[:2] // CoreDNS and the job run elsewhere now
	r.add(event.TypePosture, dead, reported.Add(2*time.Second), after)
	return r
}

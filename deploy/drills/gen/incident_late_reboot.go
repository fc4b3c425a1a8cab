package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// lateReboot is issue 11's defect 1 as an incident: at 03:10 a node that
// was added to the cluster without crashkernel= (kdump off, alone of 20) and
// hosts one of the two CoreDNS replicas, dies of the fs.h:2582 BUG. Its
// heartbeats stop; DNS lookups on the other nodes time out; node-down
// fires, and node-crash pages through it ("went silent") before anything
// is known of the cause. The node boots again and reports its unclean
// reboot, with its last kernel words and the memory of its last
// heartbeat, a few seconds after the crash alert's last update, and the
// recording ends there: nothing follows that could carry the cause out
// later. The crash alert must still name it, at once.
func lateReboot() *recording {
	r := newRecording("late-reboot", "prod-gz", "dlr", 311)
	start := time.Date(2021, 11, 2, 3, 8, 0, 0, cst)
	const dead = "10.2.0.29"
	var nodes []string
	boots := map[string]string{}
	for i := range 20 {
		n := fmt.Sprintf("10.2.0.%d", i+11)
		nodes = append(nodes, n)
		boots[n] = fmt.Sprintf("4c2e6a8b-0d1f-4a3c-9e5b-7d9f1b3d5a%02d", i+11)
	}
	for i, n := range nodes {
		r.add(event.TypePosture, n, start.Add(time.Duration(i)*300*time.Millisecond), latePosture(n, boots[n]))
	}
	death := start.Add(2*time.Minute + 4*time.Second)
	var lastBeat time.Time
	bootTime := death.Add(3*time.Minute + 30*time.Second)
	reported := bootTime.Add(33 * time.Second)
	for i, n := range nodes {
		from := start.Add(time.Duration(i) * 300 * time.Millisecond)
		to := reported
		if n == dead {
			to = death
		}
		last := r.heartbeatsWithMemory(n, boots[n], start.Add(-96*time.Hour), from, to, 15*time.Second, 81)
		if n == dead {
			lastBeat = last
		}
	}
	// Half the cluster's lookups go to the dead replica until the node is
	// back: the other nodes' probes time out, apps' lookups too.
	outageEnd := reported.Add(-5 * time.Second)
	for _, n := range nodes[:12] { // not the dead node, the 19th
		r.dnsOutage(n, clusterDNS, clusterName, death.Add(3*time.Second), outageEnd, 40)
	}
	for i, n := range nodes[:6] {
		for t := death.Add(time.Duration(30+i*4) * time.Second); t.Before(outageEnd); t = t.Add(time.Minute) {
			r.add(event.TypeRPCTimeout, n, t, event.RPCTimeout{
				Pattern: "dns-lookup-timeout", Service: "checkout", Peer: "payment.pay.svc.cluster.local",
				File: "/var/log/containers/checkout-app.log", Namespace: "pay", Pod: "checkout-7c9f8d6b5-" + octet(n), Container: "app",
				Count: r.between(4, 20), First: t.Add(-55 * time.Second).UTC(), Last: t.UTC(),
				Sample: "dial tcp: lookup payment.pay.svc.cluster.local on 10.96.0.10:53: read udp 10.244.3.9:52711->10.96.0.10:53: i/o timeout",
			})
		}
	}
	bug := death.Format("2006-01-02T15:04:05-0700") + " host-" + dashed(dead) + " kernel: "
	r.add(event.TypeReboot, dead, reported, event.Reboot{
		PreviousBootID: boots[dead], BootID: "9e1c3a5d-7f0b-4d2e-8a6c-1e3a5c7e9d29", BootTime: bootTime.UTC(), LastHeartbeat: lastBeat.UTC(),
		Clean: false, Cause: event.CauseKernelBug, CauseDetail: bugFsH, CauseType: event.TypeKernelBug, CauseTime: death.UTC(),
		PreviousKernel: kernel44, Sources: []string{"journal"},
		LastWords: []string{
			bug + "------------[ cut here ]------------",
			bug + "kernel BUG at /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h:2582!",
			bug + "invalid opcode: 0000 [#1] SMP",
			bug + "CPU: 5 PID: 31877 Comm: auplink Not tainted 4.4.0-104-generic #127-Ubuntu",
			bug + "RIP: 0010:[<ffffffff8121b4e1>]  [<ffffffff8121b4e1>] __fput+0x1c1/0x1f0",
			bug + "Call Trace:",
			bug + " [<ffffffff8121b69e>] ____fput+0xe/0x10",
			bug + " [<ffffffff810a0156>] task_work_run+0x86/0xb0",
		},
		Meminfo: meminfo(81), MeminfoSource: event.MeminfoFromHeartbeat, MeminfoAt: lastBeat.UTC(),
		MeminfoAgeSeconds: death.Sub(lastBeat).Seconds(),
	})
	return r
}

// heartbeatsWithMemory is heartbeats carrying /proc/meminfo, as collectors
// since issue 11 send them; it returns the time of the last one.
func (r *recording) heartbeatsWithMemory(node, boot string, bootTime, from, to time.Time, interval time.Duration, availPct int) time.Time {
	var last time.Time
	for t := from; t.Before(to); t = t.Add(interval) {
		r.add(event.TypeHeartbeat, node, t, event.Heartbeat{
			BootID: boot, UptimeSeconds: t.Sub(bootTime).Seconds(), IntervalSecs: interval.Seconds(), Version: "v0.2.0",
			Meminfo: meminfo(availPct),
		})
		last = t
	}
	return last
}

func latePosture(node, boot string) event.Posture {
	p := event.Posture{
		BootID: boot, KernelRelease: kernel44, KernelVersion: kernel44Ver, OS: "Ubuntu 16.04.1 LTS",
		OSID: "ubuntu", OSVersionID: "16.04", Arch: "amd64",
		Kdump: &event.KdumpState{Ready: true, CrashKernel: crashKernArg, CrashLoaded: true, CrashDir: "/var/crash", CrashDirFreeMB: 38100},
	}
	if node == "10.2.0.29" { // added to the cluster later, without crashkernel=
		p.Kdump = &event.KdumpState{Ready: false, Reasons: []string{noCrashKern, noCrashLoad}, CrashDir: "/var/crash"}
	}
	short := octet(node)
	switch node {
	case "10.2.0.29":
		p.Pods = []event.PodRef{{Namespace: kubeSystem, Name: "coredns-5c98db65d4-q7wzt", UID: "5b7d9f1b-0029-4c3e-8a5c-7e9a1c3e5f29"},
			{Namespace: "pay", Name: "payment-6b8d9c7f4-" + short, UID: "6c8e0a2c-0029-4d4f-9b6d-8f0b2d4f6a29"}}
	case "10.2.0.17":
		p.Pods = []event.PodRef{{Namespace: kubeSystem, Name: "coredns-5c98db65d4-h4n2k", UID: "7d9f1b3d-0007-4e5a-8c7e-9a1c3e5a7b07"}}
	default:
		p.Pods = []event.PodRef{{Namespace: "pay", Name: "checkout-7c9f8d6b5-" + short, UID: "8e0a2c4e-00" + short + "-4f6b-9d8f-0b2d4f6a8c0e"}}
	}
	return p
}

// octet is the last number of an IPv4 address.
func octet(ip string) string { return ip[strings.LastIndexByte(ip, '.')+1:] }

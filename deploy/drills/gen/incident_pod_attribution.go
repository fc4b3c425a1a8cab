package main

import (
	"fmt"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// corednsPodTimeout: which pod were the timeouts waiting for? A cluster of
// ten nodes on 5.15 whose collectors probe the kube-dns Service and both
// CoreDNS endpoints (--dns-target). 10.5.0.4, which runs the CoreDNS pod
// at 172.16.3.66, dies of a NULL pointer dereference; every other node's
// probes of 172.16.3.66:53 time out, and about half of those of the
// Service. The node reports its crash when it is back, with the pods of its
// last posture (previous_pods); its new posture lists no CoreDNS. The page
// says the timed-out server 172.16.3.66:53 was coredns-5c98db65d4-q7wzt on
// the crashed node.
func corednsPodTimeout() *recording {
	r := newRecording("coredns-pod-timeout", "prod-wh", "dpod", 3066)
	wh := func(hour, minute, sec int) time.Time {
		return time.Date(2021, 11, 1, hour, minute, sec, 0, time.FixedZone("CST", 8*3600))
	}
	const (
		kernel  = "5.15.0-91-generic"
		dead    = "10.5.0.4"
		deadDNS = "172.16.3.66:53"
		service = "10.96.0.10:53"
		name    = "kubernetes.default.svc.cluster.local."
	)
	nodes := hosts("10.5.0.", 1, 10)
	boots := map[string]string{}
	for i, n := range nodes {
		boots[n] = fmt.Sprintf("3066%04d-4d0d-4e00-8000-%012d", i+1, i+1)
	}
	pods := func(n string) []event.PodRef {
		oct := n[len("10.5.0."):]
		out := []event.PodRef{
			{Namespace: "kube-system", Name: "kube-proxy-k" + oct, UID: fmt.Sprintf("a1b2%04s-0000-4000-8000-000000000001", oct), HostNetwork: true},
			{Namespace: "shop", Name: "checkout-6c9d8e7f5-c" + oct, UID: fmt.Sprintf("a1b2%04s-0000-4000-8000-000000000002", oct), IPs: []string{"172.16." + oct + ".20"}},
		}
		switch n {
		case dead:
			out = append(out, event.PodRef{Namespace: "kube-system", Name: "coredns-5c98db65d4-q7wzt", UID: "c0de0004-0000-4000-8000-000000000003", IPs: []string{"172.16.3.66"}})
		case "10.5.0.8":
			out = append(out, event.PodRef{Namespace: "kube-system", Name: "coredns-5c98db65d4-m2x8c", UID: "c0de0008-0000-4000-8000-000000000003", IPs: []string{"172.16.7.21"}})
		}
		return out
	}
	posture := func(n string) event.Posture {
		return event.Posture{
			BootID: boots[n], KernelRelease: kernel, KernelVersion: "#101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023", OS: "Ubuntu 22.04.3 LTS",
			OSID: "ubuntu", OSVersionID: "22.04", Arch: "amd64",
			Kdump: &event.KdumpState{Ready: true, CrashKernel: "512M-:192M", CrashLoaded: true, CrashDir: "/var/crash", CrashDirFreeMB: 81200},
			Pods:  pods(n),
		}
	}
	start := wh(20, 0, 0)
	for i, n := range nodes {
		r.add(event.TypePosture, n, start.Add(time.Duration(i)*900*time.Millisecond), posture(n))
	}
	// 20:10:04 the oops; the other nodes' probes of its CoreDNS pod time out
	// until the Deployment's replacement runs elsewhere and the probe
	// targets follow (20:16); the Service fails about half of its lookups.
	lastBeat, crash, moved := wh(20, 9, 55), wh(20, 10, 4), wh(20, 16, 0)
	for _, n := range nodes {
		if n == dead {
			continue
		}
		r.dnsOutage(n, deadDNS, name, crash.Add(time.Second), moved, 100)
		r.dnsOutage(n, service, name, crash.Add(2*time.Second), moved, 50)
	}
	bootTime, reported := wh(20, 13, 10), wh(20, 13, 42)
	ts := crash.Format("Jan 02 15:04:05")
	next := "3066b004-4d0d-4e00-8000-00000000b004"
	r.add(event.TypeReboot, dead, reported, event.Reboot{
		PreviousBootID: boots[dead], BootID: next, BootTime: bootTime.UTC(), LastHeartbeat: lastBeat.UTC(),
		Clean: false, Cause: event.CauseKernelBug, CauseType: event.TypeKernelBug,
		CauseDetail:    "BUG: kernel NULL pointer dereference, address: 0000000000000008",
		PreviousKernel: kernel, Sources: []string{"journal"}, Meminfo: meminfo(68), PreviousPods: pods(dead),
		LastWords: []string{
			ts + " host-10-5-0-4 kernel: BUG: kernel NULL pointer dereference, address: 0000000000000008",
			ts + " host-10-5-0-4 kernel: #PF: supervisor read access in kernel mode",
			ts + " host-10-5-0-4 kernel: Oops: 0000 [#1] SMP NOPTI",
			ts + " host-10-5-0-4 kernel: CPU: 11 PID: 1542 Comm: kubelet Tainted: G           OE     5.15.0-91-generic #101-Ubuntu",
		},
	})
	boots[dead] = next
	after := posture(dead)
	after.Pods = after.Pods[:2] // CoreDNS was rescheduled elsewhere
	r.add(event.TypePosture, dead, reported.Add(2*time.Second), after)
	return r
}

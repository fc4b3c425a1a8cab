package main

import (
	"fmt"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// conntrackFull: an ingress node's connection-tracking table fills during
// an evening traffic peak; the kernel drops new flows, DNS over UDP first,
// so that node's lookups time out while the rest of the cluster is fine.
// The operator raises nf_conntrack_max twelve minutes later.
func conntrackFull() *recording {
	r := newRecording("conntrack-full", "prod-sh", "dct", 65536)
	nodes := []string{"10.0.3.11", "10.0.3.12", "10.0.3.13", "10.0.3.14", "10.0.3.15", "10.0.3.17"}
	const sick = "10.0.3.17"
	start := time.Date(2021, 3, 9, 20, 0, 0, 0, cst)
	full, fixed, end := start.Add(8*time.Minute), start.Add(20*time.Minute), start.Add(40*time.Minute)

	// Every node's prober publishes a summary a minute (they also move
	// the drill's clock, so the alert can resolve).
	for m := time.Duration(1); start.Add(m * time.Minute).Before(end); m++ {
		t := start.Add(m * time.Minute)
		for i, n := range nodes {
			ok, failed := 12, 0
			if n == sick && !t.Before(full.Add(time.Minute)) && t.Before(fixed.Add(time.Minute)) {
				ok, failed = 3, 9
			}
			r.add(event.TypeDNSProbe, n, t.Add(time.Duration(i)*700*time.Millisecond), event.DNSProbe{
				IntervalSeconds: 60,
				Servers: []event.DNSServerStats{
					{Server: clusterDNS, Transport: "udp", OK: ok, Failed: failed, P50MS: 0.9, P99MS: 3.8},
				},
			})
		}
	}
	// The kernel's drops: the first line at once, then a rollup a minute.
	line := "nf_conntrack: nf_conntrack: table full, dropping packet"
	first := full.Add(1300 * time.Millisecond)
	r.add(event.TypeKernelConntrack, sick, first, conntrackReport(line, 1, first, first))
	for from := first; from.Before(fixed); from = from.Add(time.Minute) {
		last := from.Add(59 * time.Second)
		if end := fixed.Add(-2 * time.Second); last.After(end) {
			last = end
		}
		r.add(event.TypeKernelConntrack, sick, last, conntrackReport(line, r.between(900, 4200), from.Add(time.Second), last))
	}
	r.dnsOutage(sick, clusterDNS, clusterName, full.Add(3*time.Second), fixed, 75)
	// The ingress's upstream lookups fail too.
	for t := full.Add(40 * time.Second); t.Before(fixed); t = t.Add(time.Minute) {
		r.add(event.TypeRPCTimeout, sick, t, event.RPCTimeout{
			Pattern: "dns-lookup-timeout", Service: "ingress-nginx", Peer: "checkout.shop.svc.cluster.local",
			File: "/var/log/containers/ingress-nginx-controller-7bd9c_ingress-nginx_controller.log", Namespace: "ingress-nginx",
			Pod: "ingress-nginx-controller-7bd9c", Container: "controller", Count: r.between(20, 60),
			First: t.Add(-55 * time.Second).UTC(), Last: t.UTC(),
			Sample: "[error] 31#31: *88412 checkout.shop.svc.cluster.local could not be resolved (110: Operation timed out)",
		})
	}
	return r
}

func conntrackReport(line string, n int, first, last time.Time) event.KernelReport {
	return event.KernelReport{
		Signature: "conntrack-full", Summary: "nf_conntrack: table full, dropping packet", KernelRelease: "5.4.0-77-generic",
		Lines: []string{line}, BootID: "6a2c4e8f-0b1d-4f3a-9c5e-7a9b1d3f5017", Count: n, First: first.UTC(), Last: last.UTC(),
	}
}

// memcgOOMStorm: a batch job in one namespace is deployed with a memory
// limit below its working set; its containers are OOM-killed inside their
// limits on six nodes, over and over. Normal Kubernetes life for the node:
// an informational alert for the app team, never a node incident.
func memcgOOMStorm() *recording {
	r := newRecording("memcg-oom-storm", "prod-bj", "doom", 4096)
	start := time.Date(2022, 8, 2, 2, 0, 0, 0, cst)
	end := start.Add(30 * time.Minute)
	nodes := hosts("10.8.1.", 21, 26)
	for i, n := range nodes {
		boot := fmt.Sprintf("3c5e7a9b-1d3f-4a5c-8e7a-9b1d3f5a7c%02d", i)
		r.heartbeats(n, boot, start.Add(-72*time.Hour), start.Add(time.Duration(i)*1500*time.Millisecond), end, 30*time.Second)
	}
	// 12 kills from 02:05 to 02:12, each container restarted by the
	// kubelet and killed again.
	for k := range 12 {
		n := nodes[k%len(nodes)]
		t := start.Add(5*time.Minute + time.Duration(k)*35*time.Second + r.jitter(10*time.Second))
		uid := fmt.Sprintf("7f1e2d3c-4b5a-4968-8776-%012d", 5500+k%7)
		memcg := "/kubepods/burstable/pod" + uid + "/4e6a8c0b2d4f"
		r.add(event.TypeKernelOOM, n, t, event.OOM{
			Constraint: event.OOMMemcg, InvokerComm: "java", InvokerPID: 30000 + k*17, VictimComm: "java", VictimPID: 30000 + k*17,
			VictimRSSKB: 2097152 + int64(r.between(0, 40000)), Memcg: memcg, PodUID: uid, ContainerID: "4e6a8c0b2d4f",
			KernelRelease: "5.10.0-21-amd64",
			Lines: []string{
				"java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=994",
				"memory: usage 2097152kB, limit 2097152kB, failcnt 311",
				fmt.Sprintf("oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=4e6a8c0b2d4f,mems_allowed=0,oom_memcg=%s,task_memcg=%s,task=java,pid=%d,uid=1000", memcg, memcg, 30000+k*17),
				fmt.Sprintf("Memory cgroup out of memory: Killed process %d (java) total-vm:6123456kB, anon-rss:2090000kB, file-rss:7152kB, shmem-rss:0kB, UID:1000 pgtables:4520kB oom_score_adj:994", 30000+k*17),
			},
			BootID:  fmt.Sprintf("3c5e7a9b-1d3f-4a5c-8e7a-9b1d3f5a7c%02d", k%len(nodes)),
			Meminfo: &event.Meminfo{MemTotalKB: 32778000, MemFreeKB: 9100000, MemAvailableKB: 21400000, CachedKB: 11800000},
		})
	}
	return r
}

// nodeSilent: a node stops answering without a word (a hard hang: no
// kernel message, no OOM, nothing in pstore). The cloud's watchdog
// power-cycles it eleven minutes later; it comes back with no last words.
func nodeSilent() *recording {
	r := newRecording("node-silent", "prod-sz", "dsil", 777)
	start := time.Date(2023, 11, 20, 14, 0, 0, 0, cst)
	end := start.Add(22 * time.Minute)
	const dead = "10.1.0.7"
	hang, back := start.Add(5*time.Minute+3*time.Second), start.Add(16*time.Minute+30*time.Second)
	for i := range 6 {
		n := fmt.Sprintf("10.1.0.%d", 3+i)
		boot := fmt.Sprintf("9d7b5f3e-1c0a-4e8c-a6b4-2f0d8b6a40%02d", i)
		from := start.Add(time.Duration(i) * 1200 * time.Millisecond)
		if n != dead {
			r.heartbeats(n, boot, start.Add(-240*time.Hour), from, end, 10*time.Second)
			continue
		}
		last := r.heartbeats(n, boot, start.Add(-240*time.Hour), from, hang, 10*time.Second)
		next := "e1c3a5f7-9b2d-4c6e-8a0b-2d4f6a8c0e07"
		boot2 := back.Add(-40 * time.Second)
		r.add(event.TypeReboot, n, back, event.Reboot{
			PreviousBootID: boot, BootID: next, BootTime: boot2.UTC(), LastHeartbeat: last.UTC(),
			Clean: false, Cause: event.CauseUnknown, PreviousKernel: "5.15.0-88-generic",
		})
		r.heartbeats(n, next, boot2, back.Add(2*time.Second), end, 10*time.Second)
	}
	return r
}

package main

import (
	"fmt"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// corednsOOM: DNS goes down with no node crashing. Cluster prod-xa, eight
// nodes on 5.10. A release doubles the cluster's lookups; the coredns
// Deployment's two pods (on 10.8.2.13 and 10.8.2.16) hit their 170Mi
// memory limit and the kernel OOM-kills them, again at each restart
// (CrashLoopBackOff). The kube-dns Service has no ready endpoint, so every
// node's lookups are refused (dns.error without an rcode: connection
// refused) for six minutes, until someone raises the limit. No node
// crashes and nobody would have been told: node-crash needs a crash, and
// container-oom-kills says only "memory limits, not a node problem".
func corednsOOM() *recording {
	r := newRecording("coredns-oom", "prod-xa", "dcdn", 170)
	xa := func(hour, minute, sec int) time.Time {
		return time.Date(2023, 3, 14, hour, minute, sec, 0, cst)
	}
	nodes := hosts("10.8.2.", 11, 18)
	start, fixed, end := xa(10, 0, 0), xa(10, 27, 40), xa(10, 40, 0)
	for i, n := range nodes {
		boot := fmt.Sprintf("0170%04d-7c2e-4d00-8000-%012d", i, i)
		r.heartbeatsWithMemory(n, boot, start.Add(-20*24*time.Hour), start.Add(time.Duration(i)*800*time.Millisecond), end, 30*time.Second, 58)
	}
	// The kills: each pod at 10:21 and again after each restart's back-off
	// (10 s, 20 s, 40 s, 80 s).
	pods := map[string]string{"10.8.2.13": "coredns-7f89b7bc75-k2r9d", "10.8.2.16": "coredns-7f89b7bc75-w5m7n"}
	k := 0
	for _, n := range []string{"10.8.2.13", "10.8.2.16"} {
		t := xa(10, 21, 2+k*3)
		for _, backoff := range []time.Duration{10, 20, 40, 80} {
			pid := 4100 + k*31
			uid := fmt.Sprintf("c0de%04d-0000-4000-8000-000000000001", k%2)
			memcg := "/kubepods/burstable/pod" + uid + "/9f1c2e3d4b5a"
			r.add(event.TypeKernelOOM, n, t, event.OOM{
				Constraint: event.OOMMemcg, InvokerComm: "coredns", InvokerPID: pid, VictimComm: "coredns", VictimPID: pid,
				VictimRSSKB: 173000 + int64(r.between(0, 900)), Memcg: memcg, PodUID: uid, ContainerID: "9f1c2e3d4b5a",
				Namespace: kubeSystem, Pod: pods[n], Container: "coredns", KernelRelease: "5.10.0-23-amd64",
				Lines: []string{
					"coredns invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=999",
					"memory: usage 174080kB, limit 174080kB, failcnt 88",
					fmt.Sprintf("Memory cgroup out of memory: Killed process %d (coredns) total-vm:812345kB, anon-rss:171000kB, file-rss:2100kB, shmem-rss:0kB, UID:0 pgtables:560kB oom_score_adj:999", pid),
				},
				Meminfo: &event.Meminfo{MemTotalKB: 16266500, MemFreeKB: 5100000, MemAvailableKB: 9400000, CachedKB: 4200000},
			})
			k++
			t = t.Add(backoff*time.Second + 9*time.Second)
		}
	}
	// Every node's probes of the Service are refused from 10:21:10 until
	// the limit is raised (10:27:40): the first failure at once, then a
	// rollup a minute, then dns.recovered.
	down := xa(10, 21, 10)
	for i, n := range nodes {
		first := down.Add(time.Duration(i) * 700 * time.Millisecond)
		d := func(count int, from, last time.Time) event.DNSFailure {
			return event.DNSFailure{Server: clusterDNS, Name: clusterName, Transport: "udp", TimeoutMS: 2000,
				Error: "read udp 10.8.2.1:41211->10.96.0.10:53: read: connection refused", Count: count, First: from.UTC(), Last: last.UTC()}
		}
		r.add(event.TypeDNSError, n, first, d(1, first, first))
		total := 1
		for from := first; from.Before(fixed); from = from.Add(time.Minute) {
			last := from.Add(59 * time.Second)
			if last.After(fixed) {
				last = fixed.Add(-time.Second)
			}
			c := r.between(5, 12)
			total += c
			r.add(event.TypeDNSError, n, last, d(c, from.Add(time.Second), last))
		}
		r.add(event.TypeDNSRecovered, n, fixed.Add(r.jitter(5*time.Second)), event.DNSRecovered{
			Server: clusterDNS, Name: clusterName, Transport: "udp", DownSince: first.UTC(), Failures: total,
		})
	}
	return r
}

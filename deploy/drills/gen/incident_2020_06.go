package main

import (
	"fmt"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// cst is the cluster's local time (the 2020-06 write-up's times are
// Beijing time); events are stored in UTC.
var cst = time.FixedZone("CST", 8*3600)

func at(month time.Month, day, hour, minute, sec int) time.Time {
	return time.Date(2020, month, day, hour, minute, sec, 0, cst)
}

const (
	kernel44     = "4.4.0-104-generic"
	kernel44Ver  = "#127-Ubuntu SMP Mon Dec 11 12:16:42 UTC 2017"
	bugFsH       = "kernel BUG at include/linux/fs.h:2582!"
	clusterDNS   = "10.96.0.10:53"
	clusterName  = "kubernetes.default.svc.cluster.local."
	kubeSystem   = "kube-system"
	noCrashKern  = "no crashkernel= on the kernel command line"
	noCrashLoad  = "no crash kernel loaded (/sys/kernel/kexec_crash_loaded is 0)"
	crashKernArg = "384M-:128M"
)

// crash is one node death of the 2020-06 incident.
type crash struct {
	node      string
	lastBeat  time.Time // last heartbeat before the BUG
	bootTime  time.Time
	reported  time.Time // the collector's node.reboot after boot
	availPct  int
	vmcore    string // the one crash with kdump on
	prevBoot  string
	nextBoot  string
	rpcCounts []int // a few RPC timeouts of clients of the node's pods
}

// incident202006 is the cluster of the write-up: 20 nodes on Ubuntu 16.04
// with kernel 4.4.0-104, five of which die of the fs.h:2582 BUG over
// twelve days; the second hosted CoreDNS. No heartbeats: over twelve days
// they would be 100k lines, and no rule needs them here (the crashes are
// known from the reboots; node-silent is its own drill).
func incident202006() *recording {
	r := newRecording("2020-06-fs-h-2582", "tke-prod", "d2006", 202006)
	nodes := []string{}
	for i := range 20 {
		nodes = append(nodes, fmt.Sprintf("172.21.128.%d", []int{10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 23, 24, 47, 91, 124, 138, 143, 150}[i]))
	}
	crashes := []crash{
		{node: "172.21.128.143", lastBeat: at(6, 11, 10, 51, 50), bootTime: at(6, 11, 10, 52, 22), reported: at(6, 11, 10, 52, 48),
			availPct: 76, prevBoot: "5b0d8f3e-8c1a-4d59-9e8e-3f1c0a7b2143", nextBoot: "c41e77d2-0b6f-4f3a-a1d4-6e2f9b8c1143", rpcCounts: []int{2, 1, 3}},
		{node: "172.21.128.138", lastBeat: at(6, 14, 13, 14, 30), bootTime: at(6, 14, 13, 15, 6), reported: at(6, 14, 13, 15, 39),
			availPct: 79, prevBoot: "7e3b2d10-5a4c-4c8e-b2f1-9d0a6e4f1138", nextBoot: "281c2a66-2bb2-4274-b979-e1f50cc56fd0"},
		{node: "172.21.128.124", lastBeat: at(6, 15, 22, 59, 40), bootTime: at(6, 15, 23, 0, 14), reported: at(6, 15, 23, 0, 41),
			availPct: 72, prevBoot: "0f9a6c3b-2e7d-4b1a-8c5f-1d3e5a7b9124", nextBoot: "e2d4f6a8-1b3c-4d5e-9f0a-2b4c6d8e0124", rpcCounts: []int{1, 2}},
		{node: "172.21.128.47", lastBeat: at(6, 16, 9, 39, 30), bootTime: at(6, 16, 9, 40, 3), reported: at(6, 16, 9, 40, 29),
			availPct: 81, prevBoot: "9c8b7a6d-5e4f-4a3b-9c2d-1e0f9a8b7047", nextBoot: "3a5c7e9f-0b2d-4f6a-8c1e-5d7f9b1d3047", rpcCounts: []int{3}},
		{node: "172.21.128.91", lastBeat: at(6, 23, 18, 34, 50), bootTime: at(6, 23, 18, 37, 12), reported: at(6, 23, 18, 37, 40),
			availPct: 74, prevBoot: "6d1f3b5a-7c9e-4b2d-a0f1-3c5e7a9b1091", nextBoot: "b8e0c2a4-6f1d-4e3b-8a5c-7e9a1c3e5091",
			vmcore: "/var/crash/202006231835/dump.202006231835", rpcCounts: []int{2, 2}},
	}
	// Posture of the nodes that matter, as the collectors published it at
	// start: the five that will crash and the other CoreDNS host. kdump is
	// off everywhere (no crashkernel= reservation).
	watched := []string{"172.21.128.143", "172.21.128.138", "172.21.128.124", "172.21.128.47", "172.21.128.91", "172.21.128.21"}
	boots := map[string]string{"172.21.128.21": "1e2d3c4b-5a69-4788-97a6-b5c4d3e2f021"}
	for _, c := range crashes {
		boots[c.node] = c.prevBoot
	}
	start := at(6, 11, 9, 0, 0)
	for i, n := range watched {
		r.add(event.TypePosture, n, start.Add(time.Duration(i)*7*time.Second), posture(n, boots[n], false))
	}

	for i, c := range crashes {
		r.add(event.TypeReboot, c.node, c.reported, event.Reboot{
			PreviousBootID: boots[c.node], BootID: c.nextBoot, BootTime: c.bootTime.UTC(), LastHeartbeat: c.lastBeat.UTC(),
			Clean: false, Cause: event.CauseKernelBug, CauseDetail: bugFsH, CauseType: event.TypeKernelBug,
			PreviousKernel: kernel44, Sources: sources(c), LastWords: lastWords(c), Vmcore: c.vmcore, Meminfo: meminfo(c.availPct),
		})
		r.add(event.TypePosture, c.node, c.reported.Add(2*time.Second), posture(c.node, c.nextBoot, c.vmcore != ""))
		boots[c.node] = c.nextBoot
		// Clients of the pods that ran on the dead node time out until
		// the pods run again: a handful, not a cluster-wide outage.
		for j, n := range c.rpcCounts {
			client := nodes[(i*3+j)%len(nodes)]
			t := c.lastBeat.Add(20*time.Second + time.Duration(j)*25*time.Second)
			r.add(event.TypeRPCTimeout, client, t, rpcTimeout(client, "order", "inventory", n, t))
		}
		if c.node == "172.21.128.138" {
			coreDNSOutage(r, nodes, c)
		}
		if c.node == "172.21.128.47" {
			enableKdump(r, watched, boots, at(6, 17, 15, 0, 0))
		}
	}
	return r
}

func sources(c crash) []string {
	if c.vmcore != "" {
		return []string{"kdump", "journal"}
	}
	return []string{"journal"}
}

func lastWords(c crash) []string {
	ts := c.lastBeat.Add(8 * time.Second).Format("Jan 02 15:04:05")
	host := "host-" + dashed(c.node)
	return []string{
		ts + " " + host + " kernel: ------------[ cut here ]------------",
		ts + " " + host + " kernel: kernel BUG at /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h:2582!",
		ts + " " + host + " kernel: invalid opcode: 0000 [#1] SMP",
		ts + " " + host + " kernel: CPU: 3 PID: 28761 Comm: auplink Not tainted 4.4.0-104-generic #127-Ubuntu",
		ts + " " + host + " kernel: RIP: 0010:[<ffffffff8121b4e1>]  [<ffffffff8121b4e1>] __fput+0x1c1/0x1f0",
	}
}

func dashed(ip string) string {
	b := []byte(ip)
	for i := range b {
		if b[i] == '.' {
			b[i] = '-'
		}
	}
	return string(b)
}

func posture(node, boot string, kdump bool) event.Posture {
	p := event.Posture{
		BootID: boot, KernelRelease: kernel44, KernelVersion: kernel44Ver, OS: "Ubuntu 16.04.1 LTS",
		OSID: "ubuntu", OSVersionID: "16.04", Arch: "amd64",
		Kdump: &event.KdumpState{Ready: false, Reasons: []string{noCrashKern, noCrashLoad}, CrashDir: "/var/crash"},
	}
	if kdump {
		p.Kdump = &event.KdumpState{Ready: true, CrashKernel: crashKernArg, CrashLoaded: true, CrashDir: "/var/crash", CrashDirFreeMB: 41200}
	}
	switch node {
	case "172.21.128.138":
		p.Pods = []event.PodRef{{Namespace: kubeSystem, Name: "coredns-7d4f8b6c5-hx2lq", UID: "a3f1c2d4-0138-4e5f-9a1b-2c3d4e5f6a01"},
			{Namespace: "shop", Name: "order-5d8f7c9b4-x2x9z", UID: "b4e2d3c5-0138-4f6a-8b2c-3d4e5f6a7b02"}}
	case "172.21.128.21":
		p.Pods = []event.PodRef{{Namespace: kubeSystem, Name: "coredns-7d4f8b6c5-m8v4t", UID: "c5f3e4d6-0021-4a7b-9c3d-4e5f6a7b8c03"}}
	default:
		p.Pods = []event.PodRef{{Namespace: "shop", Name: "inventory-6c9d8e7f5-" + dashed(node)[11:], UID: "d6a4f5e7-" + dashed(node)[11:] + "-4b8c-8d4e-5f6a7b8c9d04"}}
	}
	return p
}

func rpcTimeout(node, service, peer string, n int, t time.Time) event.RPCTimeout {
	return event.RPCTimeout{
		Pattern: "grpc-deadline", Service: service, Peer: peer + ".shop.svc.cluster.local:9000", Method: "/" + peer + ".v1.Service/Get",
		Code: "DeadlineExceeded", File: "/var/log/containers/" + service + "-app.log", Namespace: "shop", Pod: service + "-5d8f7c9b4-" + dashed(node)[11:],
		Container: "app", Count: n, First: t.UTC(), Last: t.UTC(),
		Sample: "rpc error: code = DeadlineExceeded desc = context deadline exceeded",
	}
}

// coreDNSOutage: with one of the two CoreDNS replicas dead, kube-proxy's
// IPVS UDP rules keep sending about half of all queries to it until they
// expire (the ipvs UDP timeout), so every other node's DNS probes and the
// apps' lookups time out for six minutes.
func coreDNSOutage(r *recording, nodes []string, c crash) {
	start, end := c.lastBeat.Add(8*time.Second), c.lastBeat.Add(6*time.Minute+10*time.Second)
	for _, n := range nodes {
		if n == c.node {
			continue
		}
		r.dnsOutage(n, clusterDNS, clusterName, start, end, 45)
	}
	// Apps on eight nodes log lookup timeouts, rolled up per minute.
	for i, n := range nodes[:8] {
		for m := range 6 {
			t := start.Add(time.Duration(m)*time.Minute + time.Duration(10+i*5)*time.Second)
			cnt := r.between(3, 14)
			r.add(event.TypeRPCTimeout, n, t, event.RPCTimeout{
				Pattern: "dns-lookup-timeout", Service: "order", Peer: "user.shop.svc.cluster.local",
				File: "/var/log/containers/order-app.log", Namespace: "shop", Pod: "order-5d8f7c9b4-" + dashed(n)[11:], Container: "app",
				Count: cnt, First: t.Add(-50 * time.Second).UTC(), Last: t.UTC(),
				Sample: "dial tcp: lookup user.shop.svc.cluster.local on 10.96.0.10:53: read udp 10.244.1.7:41234->10.96.0.10:53: i/o timeout",
			})
		}
	}
}

// enableKdump: after the vendor asked for a vmcore, kdump is turned on
// (crashkernel= and a reboot, clean) on the watched nodes.
func enableKdump(r *recording, watched []string, boots map[string]string, from time.Time) {
	for i, n := range watched {
		t := from.Add(time.Duration(i) * 10 * time.Minute)
		next := fmt.Sprintf("f00d%04d-4d0d-4e00-8000-%012d", i, i)
		r.add(event.TypeReboot, n, t.Add(90*time.Second), event.Reboot{
			PreviousBootID: boots[n], BootID: next, BootTime: t.Add(60 * time.Second).UTC(), LastHeartbeat: t.UTC(),
			Clean: true, Cause: event.CauseClean, PreviousKernel: kernel44, Sources: []string{"journal"},
		})
		r.add(event.TypePosture, n, t.Add(92*time.Second), posture(n, next, true))
		boots[n] = next
	}
}

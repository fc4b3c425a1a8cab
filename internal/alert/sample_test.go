package alert

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// crashAlert is shaped like the shipped pack's node-crash update: a
// reboot report with last words, DNS and RPC timeouts, a tally, notes,
// and text with the characters json.Marshal escapes (<, >, &, newlines).
func crashAlert(tb testing.TB) *Alert {
	tb.Helper()
	t0 := time.Date(2020, 6, 14, 5, 14, 30, 123456789, time.UTC)
	mk := func(typ, node string, at time.Time, data any) event.Event {
		e, err := event.New(typ, "aftershock-collector/"+node, "tke-prod", node, at, data)
		if err != nil {
			tb.Fatal(err)
		}
		return *e
	}
	ev := []event.Event{mk("node.reboot", "172.21.128.138", t0.Add(69*time.Second), event.Reboot{
		PreviousBootID: "0c5b1f0e-8d3e-4c55-9a51-1d7f0e0d6c11", BootID: "281c2a66-51d8-4d4e-9e0b-2a9c1f6b0a77",
		BootTime: t0.Add(50 * time.Second), LastHeartbeat: t0, Cause: "kernel_bug",
		CauseDetail: "kernel BUG at include/linux/fs.h:2582!", CauseType: "kernel.bug", CauseTime: t0.Add(8 * time.Second),
		PreviousKernel: "4.4.0-104-generic", Sources: []string{"journal"},
		LastWords: []string{
			"------------[ cut here ]------------",
			"kernel BUG at /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h:2582!",
			"invalid opcode: 0000 [#1] SMP",
			"CPU: 3 PID: 28761 Comm: auplink Not tainted 4.4.0-104-generic #127-Ubuntu",
			"RIP: 0010:[<ffffffff8121b4e1>]  [<ffffffff8121b4e1>] __fput+0x1c1/0x1f0",
		},
	})}
	for i := range 4 {
		node := fmt.Sprintf("172.21.128.%d", 11+i)
		ev = append(ev, mk("dns.timeout", node, t0.Add(time.Duration(8+i)*time.Second), map[string]any{
			"server": "10.96.0.10:53", "name": "kubernetes.default.svc.cluster.local.", "qtype": "A",
			"protocol": "udp", "timeout_ms": 2000, "count": 8 + i,
		}))
		ev = append(ev, mk("rpc.timeout", node, t0.Add(time.Duration(18+i)*time.Second), map[string]any{
			"app": "order", "peer": "user.shop.svc.cluster.local", "count": 12, "pod": "shop/order-5d8f7c9b4-17",
			"line": `grpc: "user" & <user.shop> timed out after 3s`,
		}))
	}
	a := &Alert{
		Fingerprint: Fingerprint("node-crash", "tke-prod/172.21.128.138"),
		Rule:        "node-crash", Severity: "critical", State: Firing,
		Labels: map[string]string{"alertname": "node-crash", "severity": "critical", "cluster": "tke-prod",
			"node": "172.21.128.138", "team": "sre", "type": "crash"},
		Annotations: map[string]string{
			"memory":    "not memory exhaustion (172.21.128.138 had 79% of its memory available, 12.3 GiB of 15.5 GiB); suspect a kernel bug, whatever the vendor calls it",
			"known_bug": "Ubuntu bug 1653498, kernel BUG at include/linux/fs.h:2582 on 4.4 kernels (aufs/overlay); unfixed for 16.04: move to a newer kernel: https://bugs.launchpad.net/ubuntu/+source/linux/+bug/1653498",
			"dns":       "172.21.128.138 hosted CoreDNS/kube-dns: the cluster's DNS lost a replica, which is why timeouts appear on nodes that did not crash",
			"kdump":     "kdump was not ready on 172.21.128.138: the crash left no vmcore, its evidence is lost; enable kdump before the next one",
		},
		Headline:    "node 172.21.128.138 crashed: kernel BUG at include/linux/fs.h:2582! (not OOM); 203 DNS/RPC timeouts on 19 nodes",
		Summary:     "node 172.21.128.138 crashed (kernel BUG at include/linux/fs.h:2582!), not memory exhaustion, and it explains the 203 DNS/RPC timeouts on 19 nodes that followed",
		Details:     "121 of the 203 timeouts were DNS lookups.\nfirst: 13:14:38 <dns.timeout> & then RPCs",
		NoteOrder:   []string{"memory", "known_bug", "dns", "kdump"},
		GroupKey:    "tke-prod/172.21.128.138",
		Receivers:   []string{"oncall-slack", "oncall-wecom"},
		WindowStart: t0.Add(-15 * time.Minute), WindowEnd: t0.Add(69 * time.Second),
		StartsAt: t0.Add(69 * time.Second), Since: t0,
		Evidence: ev, EvidenceSeen: 204, RulesVersion: "git:0123abcd", Update: 2,
		Change: &Change{Significant: true, Notes: []string{"cause found: 172.21.128.138: kernel BUG at include/linux/fs.h:2582!"},
			Values: []string{"cause"}},
		Tally: []TypeTally{
			{Type: "dns.timeout", Events: 38, Occurrences: 121, Nodes: 19, First: t0.Add(8 * time.Second), Last: t0.Add(67 * time.Second),
				TopNodes: []NodeCount{{Node: "172.21.128.47", Events: 4}, {Node: "172.21.128.11", Events: 3}}},
			{Type: "node.reboot", Events: 1, Occurrences: 1, Nodes: 1, First: t0.Add(69 * time.Second), Last: t0.Add(69 * time.Second)},
			{Type: "rpc.timeout", Events: 8, Occurrences: 82, Nodes: 8, First: t0.Add(18 * time.Second), Last: t0.Add(53 * time.Second)},
		},
		CreatedAt: time.Date(2026, 12, 4, 13, 0, 0, 987654321, time.UTC),
	}
	a.ID = UpdateID(a.Fingerprint, a.WindowStart, a.Update)
	return a
}

func BenchmarkDecode(b *testing.B) {
	benchDecode(b, func(raw []byte) error { _, err := Decode(raw); return err })
}

// BenchmarkDecodeSlow is encoding/json's path alone, for comparison.
func BenchmarkDecodeSlow(b *testing.B) {
	benchDecode(b, func(raw []byte) error { var a Alert; return json.Unmarshal(raw, &a) })
}

// benchDecode decodes the node-crash update with decode.
func benchDecode(b *testing.B, decode func([]byte) error) {
	raw, err := crashAlert(b).Encode()
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if err := decode(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	a := crashAlert(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := a.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

package brief_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/event"
)

var (
	shanghai, _ = time.LoadLocation("Asia/Shanghai")
	at          = time.Date(2020, 6, 14, 5, 15, 41, 0, time.UTC)
)

func ev(t *testing.T, typ string, data any) *event.Event {
	t.Helper()
	e, err := event.New(typ, "test", "prod", "172.21.128.139", at, data)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestEventLine(t *testing.T) {
	utc, cst := brief.Clock{}, brief.Clock{Loc: shanghai}
	tests := []struct {
		name  string
		clock brief.Clock
		ev    *event.Event
		want  string
	}{
		{"dns timeout rollup", utc, ev(t, event.TypeDNSTimeout, event.DNSFailure{Server: "10.96.0.10", Name: "kubernetes.default.svc", Transport: "udp", TimeoutMS: 2000, Count: 11}),
			"05:15:41 dns.timeout on 172.21.128.139: 11× to 10.96.0.10:53 (udp, 2s) for kubernetes.default.svc"},
		{"in the team's zone", cst, ev(t, event.TypeDNSTimeout, event.DNSFailure{Server: "10.96.0.10:5353", Count: 1}),
			"13:15:41 dns.timeout on 172.21.128.139: 1× to 10.96.0.10:5353"},
		{"dns error", utc, ev(t, event.TypeDNSError, event.DNSFailure{Server: "10.96.0.10", Rcode: "SERVFAIL", Count: 3, Name: "a.b"}),
			"05:15:41 dns.error on 172.21.128.139: 3× SERVFAIL from 10.96.0.10:53 for a.b"},
		{"dns error without an rcode", utc, ev(t, event.TypeDNSError, event.DNSFailure{Server: "10.96.0.10:53", Count: 7, Name: "a.b",
			Error: "read udp 10.8.2.1:41211->10.96.0.10:53: read: connection refused"}),
			"05:15:41 dns.error on 172.21.128.139: 7× connection refused from 10.96.0.10:53 for a.b"},
		{"unclean reboot", utc, ev(t, event.TypeReboot, event.Reboot{CauseDetail: "kernel BUG at include/linux/fs.h:2582!", Cause: "kernel_bug", Vmcore: "/var/crash/x/vmcore"}),
			"05:15:41 node.reboot on 172.21.128.139: rebooted uncleanly: kernel BUG at include/linux/fs.h:2582! (vmcore saved)"},
		{"reboot placed at its last heartbeat", cst, ev(t, event.TypeReboot, event.Reboot{Cause: "panic", LastHeartbeat: at.Add(-4 * time.Minute)}),
			"13:15:41 node.reboot on 172.21.128.139: rebooted uncleanly: panic; last heartbeat 13:11:41"},
		{"an absence alert says since when", utc, ev(t, "aftershock.alert", map[string]any{"rule": "node-down", "state": "firing", "last_seen": at.Add(-time.Minute)}),
			"05:15:41 alert on 172.21.128.139: node-down firing, silent since 05:14:41"},
		{"a resolved alert", utc, ev(t, "aftershock.alert", map[string]any{"rule": "node-down", "state": "resolved", "last_seen": at.Add(-time.Minute)}),
			"05:15:41 alert on 172.21.128.139: node-down resolved"},
		{"reboot without evidence", utc, ev(t, event.TypeReboot, map[string]any{"clean": false}),
			"05:15:41 node.reboot on 172.21.128.139: rebooted uncleanly"},
		{"rpc timeout", utc, ev(t, event.TypeRPCTimeout, event.RPCTimeout{Service: "order", Peer: "user.shop.svc", Count: 12, Namespace: "shop", Pod: "order-1"}),
			"05:15:41 rpc.timeout on 172.21.128.139: 12× order → user.shop.svc timed out (pod shop/order-1)"},
		{"kernel report", utc, ev(t, event.TypeKernelBug, event.KernelReport{Summary: "kernel BUG at mm/slub.c:3901!", Comm: "kworker/3:2", Count: 2}),
			"05:15:41 kernel.bug on 172.21.128.139: kernel BUG at mm/slub.c:3901! [kworker/3:2] ×2"},
		{"oom in a pod", utc, ev(t, event.TypeKernelOOM, map[string]any{"constraint": "memcg", "victim_comm": "java", "victim_pid": 4242, "victim_rss_kb": 2097152, "namespace": "shop", "pod": "cart-7f9c"}),
			"05:15:41 kernel.oom on 172.21.128.139: memcg OOM killed java (pid 4242, 2.0 GiB resident) in pod shop/cart-7f9c"},
		{"heartbeat with memory", utc, ev(t, event.TypeHeartbeat, event.Heartbeat{UptimeSeconds: 90061, Meminfo: &event.Meminfo{MemTotalKB: 16266500, MemAvailableKB: 12860000}}),
			"05:15:41 node.heartbeat on 172.21.128.139: up 25h1m, 12.3 GiB of 15.5 GiB available (79%)"},
		{"posture", utc, ev(t, event.TypePosture, map[string]any{"kernel_release": "4.4.0-104-generic", "os": "Ubuntu 16.04.1 LTS", "kdump": map[string]any{"ready": false}, "pods": []map[string]any{{"namespace": "kube-system", "name": "coredns-1", "uid": "u1"}}}),
			"05:15:41 node.posture on 172.21.128.139: kernel 4.4.0-104-generic, Ubuntu 16.04.1 LTS, kdump NOT ready, 1 pod"},
		{"an app's own type", utc, ev(t, "app.checkout_failed", map[string]any{"x": strings.Repeat("y", 500)}),
			"05:15:41 app.checkout_failed on 172.21.128.139"},
		{"undecodable data", utc, &event.Event{Type: event.TypeDNSTimeout, Node: "n1", Time: at, Data: json.RawMessage(`"oops"`)},
			"05:15:41 dns.timeout on n1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.clock.EventLine(tt.ev); got != tt.want {
				t.Errorf("\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestKernelLine(t *testing.T) {
	cst := brief.Clock{Loc: shanghai}
	tests := []struct{ in, want string }{
		{"2020-06-14T13:14:38+0800 host-172-21-128-138 kernel: kernel BUG at /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h:2582!",
			"13:14:38 kernel BUG at /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h:2582!"},
		{"Jun 14 13:14:38 host-172-21-128-138 kernel: [ 3001.000001] ------------[ cut here ]------------",
			"13:14:38 ------------[ cut here ]------------"},
		{"[481235.012001] BUG: kernel NULL pointer dereference, address: 0000000000000010",
			"[481235.012001] BUG: kernel NULL pointer dereference, address: 0000000000000010"},
	}
	for _, tt := range tests {
		if got := brief.KernelLine(tt.in, cst); got != tt.want {
			t.Errorf("KernelLine(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestFold(t *testing.T) {
	vs := append(append(strings.Fields(strings.Repeat("java ", 150)), strings.Fields(strings.Repeat("nginx ", 47))...), "redis")
	if got := brief.Fold(vs, 0); got != "java ×150, nginx ×47, redis" {
		t.Errorf("Fold = %q", got)
	}
	if got := brief.Fold([]string{"a", "b", "c", "a"}, 2); got != "a ×2, b, and 1 more" {
		t.Errorf("Fold with limit = %q", got)
	}
}

func TestClock(t *testing.T) {
	if got := (brief.Clock{Loc: shanghai}).At(at); got != "2020-06-14 13:15:41 CST (05:15:41 UTC)" {
		t.Errorf("At in Shanghai = %q", got)
	}
	late := time.Date(2020, 6, 14, 20, 0, 0, 0, time.UTC) // the next day in Shanghai
	if got := (brief.Clock{Loc: shanghai}).At(late); got != "2020-06-15 04:00:00 CST (Jun 14 20:00:00 UTC)" {
		t.Errorf("At across midnight = %q", got)
	}
	if got := (brief.Clock{}).At(at); got != "2020-06-14 05:15:41 UTC" {
		t.Errorf("At in UTC = %q", got)
	}
	for d, want := range map[time.Duration]string{42 * time.Second: "42s", 6*time.Minute + 2*time.Second: "6m2s", 6 * time.Minute: "6m", 2*time.Hour + 5*time.Minute: "2h5m", 6 * time.Hour: "6h", 75 * time.Hour: "3d3h"} {
		if got := brief.Duration(d); got != want {
			t.Errorf("Duration(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestOf: a crash alert's brief names the node, says since in both zones,
// keeps the rule's note order, quotes the last words and counts the
// evidence; nothing in it is JSON.
func TestOf(t *testing.T) {
	reboot := ev(t, event.TypeReboot, event.Reboot{
		CauseDetail: "kernel BUG at include/linux/fs.h:2582!", Cause: "kernel_bug", Sources: []string{"journal"},
		LastWords: []string{"2020-06-14T13:14:38+0800 h kernel: ------------[ cut here ]------------", "2020-06-14T13:14:38+0800 h kernel: kernel BUG at x!"},
		Meminfo:   &event.Meminfo{MemTotalKB: 16266500, MemAvailableKB: 12860000}, MeminfoAgeSeconds: 8,
	})
	a := &alert.Alert{
		Rule: "node-crash", Fingerprint: "fp1", Severity: "critical", State: alert.Firing, Headline: "node n1 crashed",
		Summary: "s", Labels: map[string]string{"node": "n1,n2", "cluster": "prod"}, StartsAt: at, Since: at.Add(-time.Minute),
		Annotations: map[string]string{"zeta": "z", "known_bug": "k", "resolved_reason": "r"}, NoteOrder: []string{"zeta", "known_bug"},
		Evidence: []event.Event{*reboot},
		Tally: []alert.TypeTally{{Type: "dns.timeout", Events: 514, Occurrences: 1204, Nodes: 19, First: at, Last: at.Add(6 * time.Minute),
			TopNodes: []alert.NodeCount{{Node: "n3", Events: 300}, {Node: "n4", Events: 38}}}},
	}
	b := brief.Of(a, brief.Options{Clock: brief.Clock{Loc: shanghai}, ExternalURL: "https://as.example"})
	want := []brief.Field{{"Nodes", "n1, n2"}, {"Cluster", "prod"}, {"Since", "2020-06-14 13:14:41 CST (05:14:41 UTC)"}, {"Severity", "critical"},
		{"Memory before the crash", "12.3 GiB of 15.5 GiB available (79%), 8s before the crash"}}
	if len(b.Fields) != len(want) {
		t.Fatalf("fields %q", b.Fields)
	}
	for i := range want {
		if b.Fields[i] != want[i] {
			t.Errorf("field %d = %q, want %q", i, b.Fields[i], want[i])
		}
	}
	if b.Notes[0].Name != "Zeta" || b.Notes[1].Name != "Known bug" || b.Notes[2].Name != "Why resolved" {
		t.Errorf("notes %q: want the rule's order, then the rest", b.Notes)
	}
	if b.LastWords == nil || b.LastWords.Lines[1] != "13:14:38 kernel BUG at x!" || b.LastWords.Source != "journal" {
		t.Errorf("last words %+v", b.LastWords)
	}
	if b.Tally[0] != "dns.timeout ×514 (1204 in all) on 19 nodes, 13:15:41–13:21:41; most on n3 ×300, n4 ×38" {
		t.Errorf("tally %q", b.Tally[0])
	}
	if b.Link != "https://as.example/alerts/fp1" || b.Title != "node n1 crashed" {
		t.Errorf("link %q title %q", b.Link, b.Title)
	}
	for _, s := range append(append(b.Tally, b.Events...), b.Footer) {
		if strings.ContainsAny(s, "{}\"") {
			t.Errorf("JSON in %q", s)
		}
	}
}

// TestMemoryBeforeTheCrash: the memory field says when the snapshot was
// taken, as far as it is known.
func TestMemoryBeforeTheCrash(t *testing.T) {
	mem := &event.Meminfo{MemTotalKB: 16266500, MemAvailableKB: 6181270}
	for _, tc := range []struct {
		name string
		r    event.Reboot
		want string
	}{
		{"dated cause", event.Reboot{Meminfo: mem, MeminfoSource: event.MeminfoFromHeartbeat, MeminfoAgeSeconds: 16},
			"5.9 GiB of 15.5 GiB available (38%), 16s before the crash"},
		{"undated cause (kdump dmesg)", event.Reboot{Meminfo: mem, MeminfoSource: event.MeminfoFromHeartbeat},
			"5.9 GiB of 15.5 GiB available (38%), at the last heartbeat"},
		{"the kernel report's own", event.Reboot{Meminfo: mem, MeminfoSource: event.MeminfoFromReport},
			"5.9 GiB of 15.5 GiB available (38%)"},
		{"clean reboot", event.Reboot{Clean: true, Meminfo: mem}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := &alert.Alert{Rule: "r", Fingerprint: "fp", Severity: "critical", State: alert.Firing, StartsAt: at,
				Evidence: []event.Event{*ev(t, event.TypeReboot, tc.r)}}
			got := ""
			for _, f := range brief.Of(a, brief.Options{}).Fields {
				if f.Name == "Memory before the crash" {
					got = f.Value
				}
			}
			if got != tc.want {
				t.Errorf("memory %q, want %q", got, tc.want)
			}
		})
	}
}

func TestHumanize(t *testing.T) {
	for name, want := range map[string]string{"known_bug": "Known bug", "dns": "DNS", "waited_for": "Waited for", "resolved_reason": "Why resolved"} {
		if got := brief.Humanize(name); got != want {
			t.Errorf("Humanize(%q) = %q, want %q", name, got, want)
		}
	}
}

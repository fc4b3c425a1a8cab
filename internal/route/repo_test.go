package route_test

import (
	"testing"

	"github.com/aftershock/aftershock/internal/inhibit"
	"github.com/aftershock/aftershock/internal/route"
)

// TestRepoRouting checks the shipped rules/routing.yaml: it loads, test
// events print at once, critical alerts page at once, and a crash mutes the
// timeout alerts it explains and the crashed node's own warnings.
func TestRepoRouting(t *testing.T) {
	r, err := route.Load("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		labels map[string]string
		wait   bool
	}{
		{map[string]string{"rule": "pipeline-test", "severity": "info"}, false},
		{map[string]string{"rule": "node-crash", "severity": "critical"}, false},
		{map[string]string{"rule": "kdump-not-ready", "severity": "warning"}, true},
	} {
		rt := r.Root.Match(tc.labels)[0]
		if (rt.GroupWait > 0) != tc.wait {
			t.Errorf("%v: group_wait %s", tc.labels, rt.GroupWait)
		}
	}
	in := inhibit.New(r.Inhibit)
	in.Set("crash", map[string]string{"rule": "node-crash", "cluster": "prod", "team": "sre", "node": "n7"}, false)
	in.Set("down", map[string]string{"rule": "node-down", "cluster": "stage", "node": "n9"}, false)
	in.Set("bug", map[string]string{"rule": "known-kernel-bug", "cluster": "stage", "node": "n5"}, false)
	in.Set("silent", map[string]string{"rule": "cluster-silent", "cluster": "edge", "team": "sre"}, false)
	for _, tc := range []struct {
		labels map[string]string
		want   bool
	}{
		{map[string]string{"type": "dns.timeout", "cluster": "prod", "node": "n1"}, true},
		{map[string]string{"type": "rpc.timeout", "cluster": "prod", "node": "n2"}, true},
		{map[string]string{"type": "dns.timeout", "cluster": "stage", "node": "n9"}, true},
		{map[string]string{"type": "dns.timeout", "cluster": "stage", "node": "n8"}, false},
		{map[string]string{"rule": "conntrack-dns", "cluster": "prod", "node": "n1"}, false},
		// The crash page tells all of the crashed node; its own warnings
		// stay quiet, other nodes' do not, nor does kdump's.
		{map[string]string{"rule": "not-oom", "cluster": "prod", "node": "n7"}, true},
		{map[string]string{"rule": "node-down", "cluster": "prod", "node": "n7"}, true},
		{map[string]string{"rule": "known-kernel-bug", "cluster": "prod", "node": "n7"}, true},
		{map[string]string{"rule": "node-reboot-unclean", "cluster": "prod", "node": "n8"}, false},
		{map[string]string{"rule": "kdump-not-ready", "cluster": "prod", "node": "n7"}, false},
		// A known bug's page says the rest of that reboot (not OOM, last
		// words): one message, not three.
		{map[string]string{"rule": "not-oom", "cluster": "stage", "node": "n5"}, true},
		{map[string]string{"rule": "node-reboot-unclean", "cluster": "stage", "node": "n5"}, true},
		{map[string]string{"rule": "not-oom", "cluster": "stage", "node": "n6"}, false},
		{map[string]string{"rule": "kernel-exposure", "cluster": "stage", "node": "n5"}, false},
		// A silent cluster is one page, not one per node; other
		// clusters' nodes still page.
		{map[string]string{"rule": "node-down", "cluster": "edge", "node": "e1"}, true},
		{map[string]string{"rule": "node-down", "cluster": "stage", "node": "n8"}, false},
		{map[string]string{"rule": "kdump-not-ready", "cluster": "edge", "node": "e1"}, false},
	} {
		if got, _ := in.Inhibited("x", tc.labels, false); got != tc.want {
			t.Errorf("%v inhibited %v, want %v", tc.labels, got, tc.want)
		}
	}
}

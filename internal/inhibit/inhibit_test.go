package inhibit_test

import (
	"testing"

	"github.com/aftershock/aftershock/internal/inhibit"
	"github.com/aftershock/aftershock/internal/route"
)

func rules(t *testing.T) []route.InhibitRule {
	t.Helper()
	r, probs := route.Parse("routing.yaml", []byte(`route: {receiver: console}
inhibit_rules:
  - source_matchers: ['rule=~"node-(down|crash)"']
    target_matchers: ['type=~"dns.timeout|rpc.timeout"']
    equal: [cluster, node]
  - source_matchers: [rule=cluster-dns-down]
    target_matchers: [type=dns.timeout]
    equal: [cluster]
`))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	return r.Inhibit
}

func TestInhibit(t *testing.T) {
	in := inhibit.New(rules(t))
	crash := map[string]string{"rule": "node-crash", "cluster": "c1", "node": "n1"}
	in.Set("crash", crash, false)
	tests := []struct {
		name     string
		labels   map[string]string
		drill    bool
		want     bool
		wantRule int
	}{
		{"pod timeouts on the crashed node", map[string]string{"type": "rpc.timeout", "cluster": "c1", "node": "n1"}, false, true, 0},
		{"dns timeouts on the crashed node", map[string]string{"type": "dns.timeout", "cluster": "c1", "node": "n1"}, false, true, 0},
		{"timeouts on another node", map[string]string{"type": "rpc.timeout", "cluster": "c1", "node": "n2"}, false, false, -1},
		{"another cluster", map[string]string{"type": "rpc.timeout", "cluster": "c2", "node": "n1"}, false, false, -1},
		{"not a target", map[string]string{"type": "kernel.bug", "cluster": "c1", "node": "n1"}, false, false, -1},
		{"drill target is not muted by a live source", map[string]string{"type": "rpc.timeout", "cluster": "c1", "node": "n1"}, true, false, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, r := in.Inhibited("target", tt.labels, tt.drill)
			if got != tt.want || r != tt.wantRule {
				t.Errorf("inhibited %v by %d, want %v by %d", got, r, tt.want, tt.wantRule)
			}
		})
	}
	if got, _ := in.Inhibited("crash", map[string]string{"rule": "node-crash", "type": "rpc.timeout", "cluster": "c1", "node": "n1"}, false); got {
		t.Error("an alert inhibited itself")
	}
	in.Remove("crash")
	if got, _ := in.Inhibited("t", map[string]string{"type": "rpc.timeout", "cluster": "c1", "node": "n1"}, false); got {
		t.Error("still inhibited after the source resolved")
	}
	// A source whose labels change moves to its new key.
	in.Set("dns", map[string]string{"rule": "cluster-dns-down", "cluster": "c1"}, false)
	in.Set("dns", map[string]string{"rule": "cluster-dns-down", "cluster": "c9"}, false)
	if got, _ := in.Inhibited("t", map[string]string{"type": "dns.timeout", "cluster": "c1"}, false); got {
		t.Error("stale source key kept")
	}
	if got, r := in.Inhibited("t", map[string]string{"type": "dns.timeout", "cluster": "c9"}, false); !got || r != 1 {
		t.Error("moved source does not inhibit")
	}
}

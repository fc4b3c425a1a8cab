package inhibit_test

import (
	"testing"

	"github.com/aftershock/aftershock/internal/inhibit"
)

// TestInhibitedBy names the source that mutes a target, the same one on
// every call, never the target itself, and none once the sources resolve.
func TestInhibitedBy(t *testing.T) {
	in := inhibit.New(rules(t))
	crash := map[string]string{"rule": "node-crash", "cluster": "c1", "node": "n1"}
	in.Set("crash-b", crash, false)
	in.Set("crash-a", crash, false)
	target := map[string]string{"type": "rpc.timeout", "cluster": "c1", "node": "n1"}
	for range 3 {
		if src, ok := in.InhibitedBy("t", target, false); !ok || src != "crash-a" {
			t.Fatalf("InhibitedBy = %q %v, want crash-a", src, ok)
		}
	}
	if src, ok := in.InhibitedBy("crash-a", map[string]string{"rule": "node-crash", "type": "rpc.timeout", "cluster": "c1", "node": "n1"}, false); !ok || src != "crash-b" {
		t.Errorf("a source muted by itself or by nothing: %q %v", src, ok)
	}
	if _, ok := in.InhibitedBy("t", target, true); ok {
		t.Error("a live source mutes a drill")
	}
	in.Remove("crash-a")
	in.Remove("crash-b")
	if src, ok := in.InhibitedBy("t", target, false); ok {
		t.Errorf("muted by %q after the sources resolved", src)
	}
}

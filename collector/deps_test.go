package main

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoEmbeddedServer keeps nats-server out of the collector binary: it
// doubles the binary and the resident memory of an agent that runs on every
// node. Only the router links bus/embedded.
func TestNoEmbeddedServer(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/nats-io/nats-server") || strings.HasSuffix(pkg, "internal/bus/embedded") {
			t.Errorf("collector depends on %s", pkg)
		}
	}
}

package posture_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/posture"
)

func TestLastPods(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	pods := []event.PodRef{{Namespace: "kube-system", Name: "coredns-5c98db65d4-q7wzt", UID: "u1", IPs: []string{"172.16.3.66"}}}
	if got, err := posture.LoadPods(dir, "boot-a"); got != nil || err != nil {
		t.Fatalf("nothing saved: %v %v", got, err)
	}
	if err := posture.SavePods(dir, "boot-a", pods); err != nil {
		t.Fatal(err)
	}
	if got, err := posture.LoadPods(dir, "boot-a"); err != nil || !reflect.DeepEqual(got, pods) {
		t.Fatalf("got %+v %v", got, err)
	}
	if got, err := posture.LoadPods(dir, "boot-b"); got != nil || err != nil {
		t.Fatalf("another boot's pods: %v %v", got, err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
	// Bounded for a node.reboot.
	var many []event.PodRef
	for i := range 1000 {
		many = append(many, event.PodRef{Namespace: "ns", Name: fmt.Sprintf("pod-%04d", i), UID: fmt.Sprintf("uid-%04d", i), IPs: []string{"172.16.0.1"}})
	}
	if err := posture.SavePods(dir, "boot-c", many); err != nil {
		t.Fatal(err)
	}
	if got, _ := posture.LoadPods(dir, "boot-c"); len(got) == 0 || len(got) >= 1000 {
		t.Fatalf("%d pods, want a bounded list", len(got))
	}
	// A corrupt file is an error naming it, not a crash.
	if err := os.WriteFile(filepath.Join(dir, "last-pods.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := posture.LoadPods(dir, "boot-c"); err == nil || !strings.Contains(err.Error(), "last-pods.json") {
		t.Fatalf("corrupt file: %v", err)
	}
}

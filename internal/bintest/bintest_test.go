package bintest

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestDirRemovesWhatOldRunsLeft: a test process's directory sits beside
// those of earlier processes; the ones older than stale are removed, the
// recent ones (other packages' tests running now) are kept.
func TestDirRemovesWhatOldRunsLeft(t *testing.T) {
	parent := filepath.Join(os.TempDir(), "aftershock-test")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	old, err := os.MkdirTemp(parent, "run-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(old, "collector"), []byte("x"), 0o755); err != nil {
		t.Fatal(err)
	}
	then := time.Now().Add(-stale - time.Minute)
	if err := os.Chtimes(old, then, then); err != nil {
		t.Fatal(err)
	}
	recent, err := os.MkdirTemp(parent, "run-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(recent) })

	mu.Lock()
	dir = "" // as in a new test process
	mu.Unlock()
	got := Dir(t)
	t.Cleanup(func() { os.RemoveAll(got) })
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Errorf("a directory left %s ago is still there: %v", stale, err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recent run's directory was removed: %v", err)
	}
	if filepath.Dir(got) != parent || got == recent {
		t.Errorf("this process's directory %s, want a new one in %s", got, parent)
	}
	if Dir(t) != got {
		t.Error("a second call gave another directory")
	}
}

// Package bintest builds this module's commands for tests that run the real
// binaries (flags, --help, end-to-end runs), once per test binary.
package bintest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	mu    sync.Mutex
	dir   string
	built = map[string]string{}
)

// stale is how old another test process's directory must be to be
// removed: longer than any test binary runs (go test stops one after 10
// minutes by default; CI allows 15, the benchmarks 20).
const stale = time.Hour

// Dir is this test process's directory for what its tests build (binaries,
// copied trees), under one parent in the temp dir. Nothing can remove it
// when the process ends (package tests have no teardown), so the first call
// in each process removes the directories earlier processes left there
// once they are older than an hour: before, every `go test ./...` left
// about a gigabyte of binaries behind for good.
func Dir(tb testing.TB) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	return dirLocked(tb)
}

func dirLocked(tb testing.TB) string {
	tb.Helper()
	if dir != "" {
		return dir
	}
	parent := filepath.Join(os.TempDir(), "aftershock-test")
	if err := os.MkdirAll(parent, 0o755); err != nil {
		tb.Fatal(err)
	}
	if old, err := os.ReadDir(parent); err == nil {
		for _, e := range old {
			if info, err := e.Info(); err == nil && time.Since(info.ModTime()) > stale {
				_ = os.RemoveAll(filepath.Join(parent, e.Name()))
			}
		}
	}
	d, err := os.MkdirTemp(parent, "run-")
	if err != nil {
		tb.Fatal(err)
	}
	dir = d
	return dir
}

// Build compiles the main package pkg (a path relative to the module root,
// e.g. "./collector", or a tool's package path from go.mod) into Dir and
// returns the binary's path, once per test process. The Go build cache
// makes repeated builds across test binaries cheap.
func Build(tb testing.TB, pkg string) string {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if p, ok := built[pkg]; ok {
		return p
	}
	d := dirLocked(tb)
	root, err := ModuleRoot()
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(d, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	built[pkg] = out
	return out
}

// ModuleRoot is the directory of this module's go.mod.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", fmt.Errorf("not inside the module")
	}
	return filepath.Dir(mod), nil
}

package posture

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/event"
)

const meminfo = `MemTotal:        8008516 kB
MemFree:          734012 kB
MemAvailable:    6123004 kB
Buffers:          201220 kB
Cached:          5412332 kB
SwapCached:            0 kB
SwapTotal:             0 kB
SwapFree:              0 kB
HugePages_Total:       0
`

func TestMeminfo(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "proc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "proc/meminfo"), []byte(meminfo), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Host{Root: root}.Meminfo()
	if err != nil {
		t.Fatal(err)
	}
	want := event.Meminfo{MemTotalKB: 8008516, MemFreeKB: 734012, MemAvailableKB: 6123004, CachedKB: 5412332, BuffersKB: 201220}
	if *got != want {
		t.Fatalf("got %+v, want %+v", *got, want)
	}
	if _, err := (Host{Root: t.TempDir()}).Meminfo(); err == nil {
		t.Fatal("missing file: no error")
	}
}

func TestParseMeminfoBad(t *testing.T) {
	for name, in := range map[string]string{
		"no MemTotal": "MemFree: 1 kB\n",
		"bad number":  "MemTotal: lots kB\n",
		"empty":       "",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseMeminfo([]byte(in))
			if err == nil || !strings.Contains(err.Error(), "meminfo") {
				t.Fatalf("got %v, want a meminfo error", err)
			}
		})
	}
}

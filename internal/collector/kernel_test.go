package collector_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/collector"
	"github.com/aftershock/aftershock/internal/event"
)

// TestKernelWatcher runs the collector on a host root whose /dev/kmsg is a
// FIFO: the incident's BUG report becomes one kernel.bug on the node's
// kernel subject, with the meminfo snapshot and boot id.
func TestKernelWatcher(t *testing.T) {
	s := bustest.Server(t)
	conn := bustest.Connect(t, s)
	root := t.TempDir()
	for name, body := range map[string]string{
		"proc/sys/kernel/random/boot_id": "281c2a66-2bb2-4274-b979-e1f50cc56fd0\n",
		"proc/uptime":                    "2386100.00 1000.00\n",
		"proc/meminfo":                   "MemTotal: 8008516 kB\nMemFree: 734012 kB\nMemAvailable: 6123004 kB\nCached: 5412332 kB\n",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dev := filepath.Join(root, "dev/kmsg")
	os.MkdirAll(filepath.Dir(dev), 0o755)
	if err := syscall.Mkfifo(dev, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- collector.Run(ctx, collector.Options{
			NATS: bus.Options{URL: s.ClientURL()}, Cluster: "dev", Node: "node-1", HostRoot: root,
			StateDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", Heartbeat: time.Hour, Kmsg: "/dev/kmsg",
		}, bustest.Logger(t))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	w, err := os.OpenFile(dev, os.O_WRONLY, 0) // waits for the watcher to open it
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	for _, r := range []string{
		"6,100,2386071245542,-;------------[ cut here ]------------\n",
		"0,101,2386071245603,-;kernel BUG at /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h:2582!\n",
		"4,102,2386071245651,-;invalid opcode: 0000 [#1] SMP \n",
		"4,103,2386071246201,-;CPU: 3 PID: 28714 Comm: auplink Not tainted 4.4.0-104-generic #127-Ubuntu\n",
		"4,104,2386071247676,-;---[ end trace 4a5a3e8a2c3f2f1d ]---\n",
	} {
		if _, err := w.WriteString(r); err != nil {
			t.Fatal(err)
		}
	}
	var got event.KernelReport
	bustest.Eventually(t, "kernel.bug stored", func() bool {
		m, err := lastOn(conn.JS, "events.dev.node-1.kernel")
		if err != nil {
			return false
		}
		ev, err := event.Decode(m.Data)
		return err == nil && ev.Type == event.TypeKernelBug && json.Unmarshal(ev.Data, &got) == nil
	})
	if got.File != "include/linux/fs.h" || got.Line != 2582 || got.Comm != "auplink" || got.Meminfo == nil ||
		got.Meminfo.CachedKB != 5412332 || got.BootID != "281c2a66-2bb2-4274-b979-e1f50cc56fd0" || len(got.Lines) != 5 {
		t.Fatalf("kernel.bug data %+v", got)
	}
}

func TestBadSignaturesFailStart(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(bad, []byte("signatures:\n  - name: x\n    type: kernel.bug\n    regexp: '('\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := collector.Run(context.Background(), collector.Options{
		NATS: bus.Options{URL: "nats://127.0.0.1:1"}, StateDir: t.TempDir(), HTTPAddr: "127.0.0.1:0",
		Kmsg: "/dev/kmsg", Signatures: bad,
	}, bustest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), bad+`:2: signature "x": regexp`) {
		t.Fatalf("err = %v", err)
	}
}

package kernel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kmsg"
	"github.com/aftershock/aftershock/internal/posture"
)

// recorder is the collector side of the watcher: it keeps what was emitted.
type recorder struct {
	mu     sync.Mutex
	got    []Finding
	notify chan struct{}
}

func newRecorder() *recorder { return &recorder{notify: make(chan struct{}, 1024)} }

func (r *recorder) Emit(_ context.Context, typ string, t time.Time, data any) error {
	r.mu.Lock()
	r.got = append(r.got, Finding{Type: typ, Time: t, Data: data})
	r.mu.Unlock()
	r.notify <- struct{}{}
	return nil
}

func (r *recorder) findings() []Finding {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.got)
	slices.SortStableFunc(out, func(a, b Finding) int { return a.Time.Compare(b.Time) })
	return out
}

// wait blocks until n findings were emitted in all.
func (r *recorder) wait(t *testing.T, n int) {
	t.Helper()
	for {
		r.mu.Lock()
		have := len(r.got)
		r.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-r.notify:
		case <-time.After(10 * time.Second):
			t.Fatalf("waited for %d findings, have %d", n, have)
		}
	}
}

// fakeHost builds a host root with a boot id, uptime, meminfo and a FIFO
// as /dev/kmsg.
type fakeHost struct {
	root string
	dev  string
}

func newFakeHost(t *testing.T, bootID string) *fakeHost {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"proc/sys/kernel/random/boot_id": bootID + "\n",
		"proc/uptime":                    "6000000.00 1000.00\n",
		"proc/meminfo":                   "MemTotal: 8008516 kB\nMemFree: 734012 kB\nMemAvailable: 6123004 kB\nCached: 5412332 kB\n",
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	h := &fakeHost{root: root, dev: filepath.Join(root, "dev/kmsg")}
	if err := os.MkdirAll(filepath.Dir(h.dev), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(h.dev, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	return h
}

// open is the kernel's side of the fake device; each write is records.
// Opening a FIFO write-only waits for the watcher to open it for reading,
// so call it after starting the watcher.
func (h *fakeHost) open(t *testing.T) *os.File {
	t.Helper()
	w, err := os.OpenFile(h.dev, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// toKmsg renders lines as /dev/kmsg records, escaped as the kernel does.
func toKmsg(lines []kmsg.Line) []string {
	var out []string
	var base time.Time
	var usec int64
	for i, l := range lines {
		if l.Reboot {
			break // the rest is another boot: another ring buffer
		}
		switch {
		case l.Mono >= 0:
			usec = l.Mono.Microseconds()
		case !l.Time.IsZero():
			if base.IsZero() {
				base = l.Time.Add(-time.Hour)
			}
			usec = l.Time.Sub(base).Microseconds()
		}
		text := strings.NewReplacer(`\`, `\x5c`, "\t", `\x09`).Replace(l.Text)
		prio := 4 // a plain dmesg line says neither level nor facility
		if l.Level >= 0 {
			prio = int(l.Facility)*8 + int(l.Level) // user space's lines stay user space's
		}
		out = append(out, fmt.Sprintf("%d,%d,%d,-;%s\n", prio, i+1, usec, text))
	}
	return out
}

func startWatcher(t *testing.T, h *fakeHost, state string, reg prometheus.Registerer, rec *recorder) (stop func(), errc chan error) {
	t.Helper()
	w, err := NewWatcher(WatcherOptions{Host: posture.Host{Root: h.root}, StateDir: state, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc = make(chan error, 1)
	go func() { errc <- w.Run(ctx, rec) }()
	return cancel, errc
}

// TestWatcherFixtures feeds every fixture through a fake kmsg device and
// expects what the offline scan finds.
func TestWatcherFixtures(t *testing.T) {
	for _, tc := range fixtureCases {
		t.Run(tc.file, func(t *testing.T) {
			h := newFakeHost(t, "281c2a66-2bb2-4274-b979-e1f50cc56fd0")
			rec := newRecorder()
			_, errc := startWatcher(t, h, t.TempDir(), nil, rec)
			w := h.open(t)
			for _, r := range toKmsg(readFixture(t, tc.file)) {
				if _, err := w.WriteString(r); err != nil {
					t.Fatal(err)
				}
			}
			w.Close() // EOF: the watcher flushes and stops
			if err := <-errc; !errors.Is(err, io.EOF) {
				t.Fatalf("Run = %v, want EOF", err)
			}
			got := rec.findings()
			checkFindings(t, got, tc.want)
			for i, f := range got {
				var mem *event.Meminfo
				var boot string
				switch d := f.Data.(type) {
				case *event.KernelReport:
					mem, boot = d.Meminfo, d.BootID
				case *event.OOM:
					mem, boot = d.Meminfo, d.BootID
				}
				if mem == nil || mem.CachedKB != 5412332 || boot != "281c2a66-2bb2-4274-b979-e1f50cc56fd0" {
					t.Errorf("finding %d: meminfo %+v boot %q", i, mem, boot)
				}
			}
		})
	}
}

func TestWatcherRestart(t *testing.T) {
	h := newFakeHost(t, "boot-1")
	state := t.TempDir()
	first := []string{
		"6,1,1000000,-;Linux version 5.15.0-91-generic\n",
		"4,2,2000000,-;nf_conntrack: table full, dropping packet\n",
		"4,3,3000000,-;unregister_netdevice: waiting for lo to become free. Usage count = 1\n",
	}
	later := []string{
		"4,4,4000000,-;EXT4-fs (sda1): Remounting filesystem read-only\n",
	}

	// First run: two findings, then a stop.
	rec := newRecorder()
	reg := prometheus.NewRegistry()
	stop, errc := startWatcher(t, h, state, reg, rec)
	w := h.open(t)
	for _, r := range first {
		w.WriteString(r)
	}
	rec.wait(t, 2)
	stop()
	if err := <-errc; err != nil {
		t.Fatalf("Run = %v", err)
	}
	w.Close()
	if got := testutil.ToFloat64(findingsOf(t, reg)); got != 2 {
		t.Fatalf("findings metric %v, want 2", got)
	}

	// Second run: the device replays the ring buffer from its start, plus
	// a new record. Only the new one is published.
	rec2 := newRecorder()
	stop, errc = startWatcher(t, h, state, nil, rec2)
	w = h.open(t)
	for _, r := range append(slices.Clone(first), later...) {
		w.WriteString(r)
	}
	rec2.wait(t, 1)
	stop()
	<-errc
	got := rec2.findings()
	if len(got) != 1 || got[0].Type != event.TypeKernelFSError {
		t.Fatalf("after restart got %+v, want only the fs error", got)
	}

	// A new boot starts from the beginning of its own ring buffer.
	if err := os.WriteFile(filepath.Join(h.root, "proc/sys/kernel/random/boot_id"), []byte("boot-2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	w.Close()
	rec3 := newRecorder()
	stop, errc = startWatcher(t, h, state, nil, rec3)
	w = h.open(t)
	for _, r := range first {
		w.WriteString(r)
	}
	rec3.wait(t, 2)
	stop()
	<-errc
}

func findingsOf(t *testing.T, reg *prometheus.Registry) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var total float64
	for _, mf := range mfs {
		if mf.GetName() == "aftershock_kernel_findings_total" {
			for _, m := range mf.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "sum"})
	c.Add(total)
	return c
}

func TestWatcherCorruptPosition(t *testing.T) {
	h := newFakeHost(t, "boot-1")
	state := t.TempDir()
	if err := os.WriteFile(filepath.Join(state, positionFile), []byte("{\"boot_id\": \"boot-1\", \"se"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	stop, errc := startWatcher(t, h, state, nil, rec)
	w := h.open(t)
	w.WriteString("4,7,1000000,-;nf_conntrack: table full, dropping packet\n")
	rec.wait(t, 1)
	stop()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	p, err := loadPosition(state)
	if err != nil || p.BootID != "boot-1" || p.Seq != 7 {
		t.Fatalf("position after the run: %+v %v", p, err)
	}
}

func TestWatcherOverrunMetric(t *testing.T) {
	h := newFakeHost(t, "boot-1")
	rec := newRecorder()
	reg := prometheus.NewRegistry()
	stop, errc := startWatcher(t, h, t.TempDir(), reg, rec)
	w := h.open(t)
	w.WriteString("4,1,1000000,-;nf_conntrack: table full, dropping packet\n")
	w.WriteString("4,50,2000000,-;unregister_netdevice: waiting for lo to become free. Usage count = 1\n")
	rec.wait(t, 2)
	stop()
	<-errc
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "aftershock_kmsg_lost_records_total" {
			if v := mf.GetMetric()[0].GetCounter().GetValue(); v != 48 {
				t.Fatalf("lost %v, want 48", v)
			}
			return
		}
	}
	t.Fatal("no lost records metric")
}

func TestWatcherStartErrors(t *testing.T) {
	if _, err := NewWatcher(WatcherOptions{}); err == nil || !strings.Contains(err.Error(), "state dir") {
		t.Fatalf("NewWatcher without state dir: %v", err)
	}
	h := newFakeHost(t, "boot-1")
	rec := newRecorder()
	w, err := NewWatcher(WatcherOptions{Device: "/dev/aftershock-no-such-kmsg", Host: posture.Host{Root: h.root}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Run(context.Background(), rec); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "aftershock-no-such-kmsg") {
		t.Fatalf("missing device: %v", err)
	}
	os.Remove(filepath.Join(h.root, "proc/sys/kernel/random/boot_id"))
	_, errc := startWatcher(t, h, t.TempDir(), nil, rec)
	if err := <-errc; err == nil || !strings.Contains(err.Error(), "boot id") {
		t.Fatalf("missing boot id: %v", err)
	}
}

// TestWatcherDeviceAtItsOwnPath: with no device under the host root, the
// watcher opens the path as given (a container's hostPath /dev/kmsg).
func TestWatcherDeviceAtItsOwnPath(t *testing.T) {
	h := newFakeHost(t, "boot-1")
	own := filepath.Join(t.TempDir(), "kmsg")
	if err := os.Rename(h.dev, own); err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(WatcherOptions{Device: own, Host: posture.Host{Root: h.root}, StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- w.Run(ctx, rec) }()
	dev, err := os.OpenFile(own, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	dev.WriteString("4,1,1000000,-;nf_conntrack: table full, dropping packet\n")
	rec.wait(t, 1)
	cancel()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestWatcherRunningKernel: a report that prints no kernel release gets
// the running kernel's (the ring buffer is this boot's); one that prints
// its own keeps it. known-kernel-bug needs it to tie fs.h:2582 to 4.4.
func TestWatcherRunningKernel(t *testing.T) {
	h := newFakeHost(t, "boot-1")
	if err := os.WriteFile(filepath.Join(h.root, "proc/sys/kernel/osrelease"), []byte("4.4.0-104-generic\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := newRecorder()
	_, errc := startWatcher(t, h, t.TempDir(), nil, rec)
	w := h.open(t)
	for _, r := range []string{
		"4,1,1000000,-;------------[ cut here ]------------\n",
		"2,2,1000001,-;kernel BUG at /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h:2582!\n",
		"4,3,9000000,-;NMI watchdog: BUG: soft lockup - CPU#2 stuck for 22s! [java:3011]\n",
		"4,4,9000001,-;CPU: 2 PID: 3011 Comm: java Tainted: G             L  4.4.0-98-generic #121-Ubuntu\n",
	} {
		if _, err := w.WriteString(r); err != nil {
			t.Fatal(err)
		}
	}
	w.Close()
	if err := <-errc; !errors.Is(err, io.EOF) {
		t.Fatalf("Run = %v, want EOF", err)
	}
	got := map[string]string{}
	for _, f := range rec.findings() {
		if d, ok := f.Data.(*event.KernelReport); ok {
			got[f.Type] = d.KernelRelease
		}
	}
	if got[event.TypeKernelBug] != "4.4.0-104-generic" || got[event.TypeKernelLockup] != "4.4.0-98-generic" {
		t.Errorf("kernel releases %v: want the running kernel's for the BUG, the report's own for the lockup", got)
	}
}

package kernel

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kmsg"
)

// want describes one expected finding; zero fields are not checked.
type want struct {
	typ        string
	sig        string
	summary    string // substring of the summary
	file       string
	line       int
	comm       string
	pid        int
	release    string
	tainted    string
	device     string
	count      int
	firstFrame string
	oom        *event.OOM // the OOM fields to check; Lines and Meminfo are ignored
}

// fixtureCases are the expected findings of every file in testdata, in
// time order. The live watcher test feeds the same files through a fake
// kmsg device.
var fixtureCases = []struct {
	file string
	want []want
}{
	{"k44-bug-fs-h.dmesg", []want{
		{typ: event.TypeKernelBug, sig: "bug-at", summary: "kernel BUG at include/linux/fs.h:2582!", file: "include/linux/fs.h", line: 2582,
			comm: "auplink", pid: 28714, release: "4.4.0-104-generic", firstFrame: "____fput+0xe/0x10"},
		{typ: event.TypeKernelPanic, sig: "panic", summary: "Fatal exception"},
	}},
	{"k44-incident.journal", []want{
		// The node died mid-report: the journal has two lines, then a reboot.
		{typ: event.TypeKernelBug, sig: "bug-at", summary: "kernel BUG at include/linux/fs.h:2582!", file: "include/linux/fs.h", line: 2582},
	}},
	{"k44-null-deref.dmesg", []want{
		{typ: event.TypeKernelBug, sig: "null-deref-4x", comm: "kube-proxy", pid: 19871, tainted: "G OE", firstFrame: "ip_vs_genl_set_cmd+0x131/0x4b0 [ip_vs]"},
	}},
	{"k44-gpf.dmesg", []want{
		{typ: event.TypeKernelBug, sig: "general-protection-fault", comm: "dockerd", pid: 7712, firstFrame: "d_alloc+0x2b/0xa0"},
	}},
	{"k44-soft-lockup.dmesg", []want{
		{typ: event.TypeKernelLockup, sig: "soft-lockup", comm: "java", pid: 3011, firstFrame: "shrink_dentry_list+0x13b/0x300"},
		{typ: event.TypeKernelLockup, sig: "soft-lockup", comm: "java", pid: 3011, tainted: "G L"},
	}},
	{"k44-hard-lockup.dmesg", []want{
		{typ: event.TypeKernelLockup, sig: "hard-lockup", file: "kernel/watchdog.c", line: 352, comm: "swapper/5", firstFrame: "dump_stack+0x63/0x90"},
		{typ: event.TypeKernelPanic, summary: "Hard LOCKUP"},
	}},
	{"k44-rcu-stall.dmesg", []want{
		{typ: event.TypeKernelLockup, sig: "rcu-self-stall", firstFrame: "sched_show_task+0xaf/0x110"},
	}},
	{"k44-hung-task.kern.log", []want{
		{typ: event.TypeKernelHungTask, comm: "dockerd", pid: 1103, release: "4.4.0-104-generic", firstFrame: "schedule+0x35/0x80"},
		{typ: event.TypeKernelHungTask, comm: "auplink", pid: 28714},
	}},
	{"k44-oom-global.dmesg", []want{
		{typ: event.TypeKernelOOM, oom: &event.OOM{Constraint: event.OOMGlobal, InvokerComm: "java", InvokerPID: 30311,
			VictimComm: "java", VictimPID: 30311, VictimRSSKB: 7204932, KernelRelease: "4.4.0-104-generic"}},
	}},
	{"k44-oom-memcg.dmesg", []want{
		{typ: event.TypeKernelOOM, oom: &event.OOM{Constraint: event.OOMMemcg, InvokerComm: "java", InvokerPID: 17801,
			VictimComm: "java", VictimPID: 17790, VictimRSSKB: 1041380 + 6808,
			Memcg:       "/kubepods/burstable/pod4c9f3a7e-ae21-11ea-9c49-5254006f7a1b/2fa0c9d4ab53b6e1a48e1e3cd5b27cd0b96fe49e0d8d4dc1cd83d3d5e2a53f61",
			PodUID:      "4c9f3a7e-ae21-11ea-9c49-5254006f7a1b",
			ContainerID: "2fa0c9d4ab53b6e1a48e1e3cd5b27cd0b96fe49e0d8d4dc1cd83d3d5e2a53f61", KernelRelease: "4.4.0-104-generic"}},
	}},
	{"k44-conntrack.kern.log", []want{
		// First line at once; the next 7 within the minute rolled up; the
		// line after the minute opens a new group, its repeat is flushed.
		{typ: event.TypeKernelConntrack, sig: "conntrack-full", count: 1},
		{typ: event.TypeKernelConntrack, count: 7},
		{typ: event.TypeKernelConntrack, count: 1},
		{typ: event.TypeKernelConntrack, count: 1},
	}},
	{"k44-netdevice.dmesg", []want{
		{typ: event.TypeKernelNetdevLeak, device: "lo", count: 1},
		{typ: event.TypeKernelNetdevLeak, device: "lo", count: 5},
		{typ: event.TypeKernelNetdevLeak, device: "lo", count: 1},
		{typ: event.TypeKernelNetdevLeak, device: "veth0b1d6e3", count: 1},
	}},
	{"k44-ext4.dmesg", []want{
		{typ: event.TypeKernelFSError, sig: "ext-error", device: "vdb1", count: 1},
		{typ: event.TypeKernelFSError, sig: "jbd2-abort", device: "vdb1-8"},
		{typ: event.TypeKernelFSError, sig: "ext-remount-ro", device: "vdb1"},
		{typ: event.TypeKernelFSError, sig: "ext-error", device: "vdb1", count: 2},
	}},
	{"k44-io-error.dmesg", []want{
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "sdb", summary: "critical medium error", count: 1},
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "sdb", count: 2},
		{typ: event.TypeKernelIOError, sig: "buffer-io-error", device: "sdb1"},
	}},
	{"k44-netdev-watchdog.dmesg", []want{
		{typ: event.TypeKernelNetTxTimeout, sig: "netdev-watchdog", device: "eth0", file: "net/sched/sch_generic.c", line: 306, firstFrame: "dump_stack+0x63/0x90"},
	}},
	{"k54-null-deref-panic.kmsg", []want{
		{typ: event.TypeKernelBug, sig: "null-deref", comm: "containerd-shim", pid: 2211, release: "5.4.0-42-generic", tainted: "G W", firstFrame: "inode_permission+0x69/0x150"},
		{typ: event.TypeKernelPanic, summary: "Fatal exception"},
	}},
	{"k515-gpf.dmesg", []want{
		{typ: event.TypeKernelBug, sig: "general-protection-fault", comm: "kubelet", release: "5.15.0-91-generic", firstFrame: "mem_cgroup_css_free+0x5a/0x110"},
	}},
	{"k515-soft-lockup.journal", []want{
		{typ: event.TypeKernelLockup, sig: "soft-lockup", comm: "kworker/7:1", pid: 41213, firstFrame: "_raw_spin_lock+0x22/0x30"},
	}},
	{"k6-rcu-stall.dmesg", []want{
		{typ: event.TypeKernelLockup, sig: "rcu-stall", release: "6.1.0-18-amd64"},
	}},
	{"k6-hung-task.dmesg", []want{
		{typ: event.TypeKernelHungTask, comm: "jbd2/nvme1n1p1-", pid: 512, release: "6.8.0-1008-aws", firstFrame: "__schedule+0x27c/0x6b0"},
	}},
	{"k515-oom-memcg-systemd.kmsg", []want{
		{typ: event.TypeKernelOOM, oom: &event.OOM{Constraint: event.OOMMemcg, InvokerComm: "coredns", InvokerPID: 18841,
			VictimComm: "coredns", VictimPID: 18841, VictimRSSKB: 172416 + 3632,
			Memcg:       "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5d0b7e34_9c1f_4c2a_8a61_2f0e4b7d9c11.slice/cri-containerd-8f0e3c1d5a7b9e2f4c6d8a0b1e3f5c7d9a1b3e5f7c9d1a3b5e7f9c1d3a5b7e9f.scope",
			PodUID:      "5d0b7e34-9c1f-4c2a-8a61-2f0e4b7d9c11",
			ContainerID: "8f0e3c1d5a7b9e2f4c6d8a0b1e3f5c7d9a1b3e5f7c9d1a3b5e7f9c1d3a5b7e9f", KernelRelease: "5.15.0-91-generic"}},
	}},
	{"k54-oom-global.dmesg", []want{
		{typ: event.TypeKernelOOM, oom: &event.OOM{Constraint: event.OOMGlobal, InvokerComm: "stress-ng", InvokerPID: 90211,
			VictimComm: "stress-ng", VictimPID: 90211, VictimRSSKB: 15773220,
			Memcg:       "/kubepods/besteffort/pod8a7c6e11-3d2b-4f5a-9e8d-7c6b5a4f3e2d/d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2",
			PodUID:      "8a7c6e11-3d2b-4f5a-9e8d-7c6b5a4f3e2d",
			ContainerID: "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2", KernelRelease: "5.4.0-150-generic"}},
	}},
	{"k6-conntrack.dmesg", []want{
		{typ: event.TypeKernelConntrack, summary: "nf_conntrack: table full, dropping packet", count: 1},
		{typ: event.TypeKernelConntrack, count: 3},
		{typ: event.TypeKernelConntrack, count: 1},
	}},
	{"k6-netdevice.journal", []want{
		{typ: event.TypeKernelNetdevLeak, sig: "netdevice-leak", device: "eth0", count: 1},
		{typ: event.TypeKernelNetdevLeak, device: "eth0", count: 2},
	}},
	{"k6-xfs.dmesg", []want{
		{typ: event.TypeKernelFSError, sig: "xfs-error", device: "dm-3", summary: "metadata I/O error", count: 1},
		{typ: event.TypeKernelFSError, sig: "xfs-error", device: "dm-3", count: 3},
	}},
	{"k6-io-error.dmesg", []want{
		{typ: event.TypeKernelIOError, sig: "nvme-timeout", device: "nvme1", count: 1},
		{typ: event.TypeKernelIOError, sig: "nvme-timeout", device: "nvme1", count: 1},
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "nvme1n1", count: 1},
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "nvme1n1", count: 1},
		{typ: event.TypeKernelIOError, sig: "buffer-io-error", device: "nvme1n1p1"},
	}},
	{"k6-netdev-watchdog.dmesg", []want{
		{typ: event.TypeKernelNetTxTimeout, sig: "netdev-watchdog-6x", device: "eth1"},
	}},
	{"k6-bug-at.dmesg", []want{
		{typ: event.TypeKernelBug, sig: "bug-at", file: "mm/slub.c", line: 379, comm: "kworker/4:0", pid: 77102, release: "6.12.9-200.fc41.x86_64", tainted: "G B", firstFrame: "kfree+0x2a1/0x2f0"},
	}},
	{"k515-panic.dmesg", []want{
		{typ: event.TypeKernelPanic, summary: "hung_task: blocked tasks", comm: "khungtaskd", firstFrame: "dump_stack_lvl+0x4a/0x63"},
	}},
	{"negative-boot-5.15.dmesg", nil},
	{"negative-4.4.journal", nil},
}

func readFixture(tb testing.TB, name string) []kmsg.Line {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := kmsg.NewScanner(f, kmsg.Options{Year: 2020, Location: time.UTC})
	var lines []kmsg.Line
	for sc.Scan() {
		lines = append(lines, sc.Line())
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if st := sc.Stats(); st.Malformed > 0 {
		tb.Fatalf("%s: %d malformed lines in a fixture", name, st.Malformed)
	}
	return lines
}

func TestFixtures(t *testing.T) {
	m := NewMatcher(DefaultPack(), Options{})
	for _, tc := range fixtureCases {
		t.Run(tc.file, func(t *testing.T) {
			got := m.Scan(readFixture(t, tc.file))
			checkFindings(t, got, tc.want)
		})
	}
}

// TestFixturesCoverEveryClass keeps the fixture set honest: every file has
// expectations, and every kernel event type appears in both a 4.4-era and a
// 5.x/6.x fixture.
func TestFixturesCoverEveryClass(t *testing.T) {
	files, _ := filepath.Glob("testdata/*")
	listed := map[string]bool{}
	old, recent := map[string]bool{}, map[string]bool{}
	for _, tc := range fixtureCases {
		listed[tc.file] = true
		for _, w := range tc.want {
			if strings.HasPrefix(tc.file, "k44-") {
				old[w.typ] = true
			} else {
				recent[w.typ] = true
			}
		}
	}
	for _, f := range files {
		if st, _ := os.Stat(f); st.IsDir() {
			continue
		}
		if !listed[filepath.Base(f)] {
			t.Errorf("testdata/%s has no entry in fixtureCases", filepath.Base(f))
		}
	}
	for _, typ := range kernelTypes {
		if !old[typ] {
			t.Errorf("no 4.4-era fixture produces %s", typ)
		}
		if !recent[typ] {
			t.Errorf("no 5.x/6.x fixture produces %s", typ)
		}
	}
}

func checkFindings(t *testing.T, got []Finding, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		for _, f := range got {
			t.Logf("got %s %+v", f.Type, f.Data)
		}
		t.Fatalf("got %d findings, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		f := got[i]
		if f.Type != w.typ {
			t.Errorf("finding %d: type %s, want %s", i, f.Type, w.typ)
			continue
		}
		if w.oom != nil {
			checkOOM(t, i, f, w.oom)
			continue
		}
		kr, ok := f.Data.(*event.KernelReport)
		if !ok {
			t.Errorf("finding %d: data %T, want *event.KernelReport", i, f.Data)
			continue
		}
		checkReport(t, i, kr, w)
	}
}

func checkReport(t *testing.T, i int, kr *event.KernelReport, w want) {
	t.Helper()
	str := []struct{ name, got, want string }{
		{"signature", kr.Signature, w.sig}, {"file", kr.File, w.file}, {"comm", kr.Comm, w.comm},
		{"release", kr.KernelRelease, w.release}, {"tainted", kr.Tainted, w.tainted}, {"device", kr.Device, w.device},
	}
	for _, c := range str {
		if c.want != "" && c.got != c.want {
			t.Errorf("finding %d: %s %q, want %q", i, c.name, c.got, c.want)
		}
	}
	if w.summary != "" && !strings.Contains(kr.Summary, w.summary) {
		t.Errorf("finding %d: summary %q does not contain %q", i, kr.Summary, w.summary)
	}
	if w.line != 0 && kr.Line != w.line {
		t.Errorf("finding %d: line %d, want %d", i, kr.Line, w.line)
	}
	if w.pid != 0 && kr.PID != w.pid {
		t.Errorf("finding %d: pid %d, want %d", i, kr.PID, w.pid)
	}
	if w.count != 0 && kr.Count != w.count {
		t.Errorf("finding %d: count %d, want %d", i, kr.Count, w.count)
	}
	if w.firstFrame != "" && (len(kr.CallTrace) == 0 || kr.CallTrace[0] != w.firstFrame) {
		t.Errorf("finding %d: call trace %q, want it to start with %q", i, kr.CallTrace, w.firstFrame)
	}
	if kr.Summary == "" || len(kr.Lines) == 0 || !slices.Contains(kr.Lines, kr.Summary) && kr.File == "" {
		t.Errorf("finding %d: summary %q or raw lines %q missing", i, kr.Summary, kr.Lines)
	}
	if kr.Count < 1 || kr.First.IsZero() || kr.Last.Before(kr.First) {
		t.Errorf("finding %d: count %d, first %v, last %v", i, kr.Count, kr.First, kr.Last)
	}
}

func checkOOM(t *testing.T, i int, f Finding, w *event.OOM) {
	t.Helper()
	o, ok := f.Data.(*event.OOM)
	if !ok {
		t.Errorf("finding %d: data %T, want *event.OOM", i, f.Data)
		return
	}
	got := *o
	if len(got.Lines) == 0 || !strings.Contains(got.Lines[0], "invoked oom-killer") {
		t.Errorf("finding %d: raw lines do not start at the report: %q", i, got.Lines)
	}
	got.Lines, got.Meminfo, got.BootID = nil, nil, ""
	if !reflect.DeepEqual(got, *w) {
		t.Errorf("finding %d:\n got %+v\nwant %+v", i, got, *w)
	}
}

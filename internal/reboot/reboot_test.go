package reboot_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kernel"
	"github.com/aftershock/aftershock/internal/reboot"
)

const (
	prevID = "281c2a66-2bb2-4274-b979-e1f50cc56fd0"
	curID  = "6c1d8f0e-58a4-4c36-9d64-3f6f8d1b2a77"
)

var (
	prevBoot = time.Date(2020, 6, 11, 2, 58, 2, 0, time.UTC)
	curBoot  = time.Date(2020, 6, 14, 5, 15, 6, 0, time.UTC)
	lastBeat = time.Date(2020, 6, 14, 5, 14, 30, 0, time.UTC)
	// bugAt is when the fixtures' kernel BUG was logged: 13:14:38 in
	// Shanghai (kern.log says only "Jun 14 13:14:38").
	bugAt = time.Date(2020, 6, 14, 5, 14, 38, 0, time.UTC)
)

var pack = reboot.PackClassifier(kernel.NewMatcher(kernel.DefaultPack(), kernel.Options{}))

// fixture is a host root and a collector state directory.
type fixture struct {
	root, state string
	// journal files (testdata names) served for the previous boot: kernel
	// lines (-k) and all units; empty means that boot is not in the journal.
	journalKernel, journalAll string
}

// write puts files under dir; a value "@name" copies testdata/name.
func write(tb testing.TB, dir string, files map[string]string) {
	tb.Helper()
	for p, body := range files {
		if name, ok := strings.CutPrefix(body, "@"); ok {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				tb.Fatal(err)
			}
			body = string(b)
		}
		full := filepath.Join(dir, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				tb.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// newFixture builds a host that booted at curBoot with boot id curID, and
// a state directory that last saw boot prevID.
func newFixture(tb testing.TB, host, state map[string]string) *fixture {
	tb.Helper()
	f := &fixture{root: filepath.Join(tb.TempDir(), "host"), state: filepath.Join(tb.TempDir(), "state")}
	base := map[string]string{
		"proc/sys/kernel/random/boot_id": curID + "\n",
		"proc/stat":                      "cpu  2255 34 2290 22625563 6290 127 456 0 0 0\nbtime " + strconv.FormatInt(curBoot.Unix(), 10) + "\nprocesses 2731\n",
		"proc/sys/kernel/osrelease":      "4.4.0-104-generic\n",
	}
	for k, v := range host {
		base[k] = v
	}
	write(tb, f.root, base)
	st := map[string]string{
		"boot.json": fmt.Sprintf(`{"boot_id":%q,"boot_time":%q,"kernel_release":"4.4.0-104-generic"}`, prevID, prevBoot.Format(time.RFC3339)),
		"heartbeat": prevID + " " + lastBeat.Format(time.RFC3339Nano) + "\n",
	}
	for k, v := range state {
		if v == "" {
			delete(st, k)
			continue
		}
		st[k] = v
	}
	write(tb, f.state, st)
	return f
}

// journalctl serves the fixture's journal files the way journalctl answers
// for a boot: it checks that the boot is named by id and the journal
// directory is the host's.
func (f *fixture) journalctl(_ context.Context, name string, args ...string) ([]byte, error) {
	if name != "journalctl" {
		return nil, fmt.Errorf("%s: executable file not found in $PATH", name)
	}
	arg := func(flag string) string {
		if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
			return args[i+1]
		}
		return ""
	}
	if d := arg("-D"); d != filepath.Join(f.root, "var/log/journal") {
		return nil, fmt.Errorf("journalctl: -D %q is not the host's journal", d)
	}
	if arg("-o") != "short-iso" {
		return nil, errors.New("journalctl: fixture is short-iso only")
	}
	file := f.journalAll
	if slices.Contains(args, "-k") {
		file = f.journalKernel
	}
	if arg("-b") != strings.ReplaceAll(prevID, "-", "") || file == "" {
		return nil, errors.New("exit status 1: Data from the specified boot is not available: No such boot ID in journal")
	}
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		return nil, err
	}
	lines := strings.SplitAfter(string(b), "\n")
	if n, err := strconv.Atoi(arg("-n")); err == nil && n < len(lines) {
		lines = lines[len(lines)-n:]
	}
	return []byte(strings.Join(lines, "")), nil
}

func (f *fixture) tracker(tb testing.TB, o reboot.Options) *reboot.Tracker {
	tb.Helper()
	o.HostRoot, o.StateDir, o.Run = f.root, f.state, f.journalctl
	if o.Classify == nil {
		o.Classify = pack
	}
	t, err := reboot.New(o)
	if err != nil {
		tb.Fatal(err)
	}
	return t
}

func TestReboot(t *testing.T) {
	stopClean := fmt.Sprintf(`{"boot_id":%q,"time":"2020-06-14T05:14:50Z","system_stopping":true,"evidence":"/run/nologin exists"}`, prevID)
	tests := []struct {
		name                      string
		host, state               map[string]string
		journalKernel, journalAll string
		mtimes                    map[string]time.Time
		want                      event.Reboot
		// lastWord is a substring of the last line of LastWords ("" means
		// no last words).
		lastWord string
	}{
		{
			name:  "clean reboot, stop marker",
			state: map[string]string{"stop.json": stopClean},
			want:  event.Reboot{Clean: true, Cause: event.CauseClean, CauseDetail: "collector stopped while the system was shutting down (/run/nologin exists)"},
		},
		{
			name:          "clean reboot, journal",
			host:          map[string]string{"var/log/journal/": ""},
			journalKernel: "journal-kernel-chatter.txt", journalAll: "journal-all-clean.txt",
			want:     event.Reboot{Clean: true, Cause: event.CauseClean, CauseDetail: "orderly shutdown in the previous boot's log", Sources: []string{"journal"}},
			lastWord: "apparmor=\"DENIED\"",
		},
		{
			name:          "crash with journal: the 2020-06-14 incident",
			host:          map[string]string{"var/log/journal/": ""},
			journalKernel: "journal-kernel-incident.txt", journalAll: "journal-all-crash.txt",
			want: event.Reboot{Cause: event.CauseKernelBug, CauseType: event.TypeKernelBug,
				CauseDetail: "kernel BUG at include/linux/fs.h:2582!", Sources: []string{"journal"}, CauseTime: bugAt},
			lastWord: "kernel BUG at /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h:2582!",
		},
		{
			name:          "stop marker, but the journal shows a crash",
			host:          map[string]string{"var/log/journal/": ""},
			state:         map[string]string{"stop.json": stopClean},
			journalKernel: "journal-kernel-incident.txt", journalAll: "journal-all-crash.txt",
			want: event.Reboot{Cause: event.CauseKernelBug, CauseType: event.TypeKernelBug,
				CauseDetail: "kernel BUG at include/linux/fs.h:2582!", Sources: []string{"journal"}, CauseTime: bugAt},
			lastWord: "fs.h:2582!",
		},
		{
			name: "crash with pstore; an older record is ignored",
			host: map[string]string{
				"sys/fs/pstore/dmesg-ramoops-0":               "@pstore-soft-lockup-panic.txt",
				"sys/fs/pstore/dmesg-efi-159000000001001":     "@pstore-old-bug.txt",
				"var/lib/systemd/pstore/1590000000/dmesg.txt": "@pstore-old-bug.txt",
			},
			mtimes: map[string]time.Time{
				"sys/fs/pstore/dmesg-efi-159000000001001":     prevBoot.Add(-48 * time.Hour),
				"var/lib/systemd/pstore/1590000000/dmesg.txt": prevBoot.Add(-72 * time.Hour),
			},
			want: event.Reboot{Cause: event.CauseLockup, CauseType: event.TypeKernelLockup,
				CauseDetail: "watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [kworker/3:2:18822]", Sources: []string{"pstore"}},
			lastWord: "Kernel Offset",
		},
		{
			name: "crash with pstore: a fatal machine check is hardware, not the panic after it",
			host: map[string]string{"sys/fs/pstore/dmesg-ramoops-0": "@pstore-mce-panic.txt"},
			want: event.Reboot{Cause: event.CauseHardware, CauseType: event.TypeKernelMCE,
				CauseDetail: "mce: [Hardware Error]: CPU 11: Machine Check Exception: 5 Bank 4: be00000000800400", Sources: []string{"pstore"}},
			lastWord: "Kernel Offset",
		},
		{
			name:  "crash during shutdown: stop marker, and a panic in pstore",
			host:  map[string]string{"sys/fs/pstore/dmesg-ramoops-0": "@pstore-soft-lockup-panic.txt"},
			state: map[string]string{"stop.json": stopClean},
			want: event.Reboot{Cause: event.CauseLockup, CauseType: event.TypeKernelLockup,
				CauseDetail: "watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [kworker/3:2:18822]", Sources: []string{"pstore"}},
			lastWord: "Kernel Offset",
		},
		{
			name: "crash with kdump dmesg and vmcore (kdump-tools)",
			host: map[string]string{
				"var/crash/202006231835/dmesg.202006231835": "@kdump-oom-panic.dmesg",
				"var/crash/202006231835/dump.202006231835":  "KDUMP   ",
				"var/crash/kexec_cmd":                       "kexec -p ...",
			},
			want: event.Reboot{Cause: event.CauseOOM, CauseType: event.TypeKernelOOM,
				// kdump's dmesg is not dated: no cause_time (not 1970, its
				// time since boot taken for a date).
				CauseDetail: "java invoked oom-killer; global OOM (panic_on_oom): killed java (pid 30311, 6.9 GiB resident)",
				Sources:     []string{"kdump"}, Vmcore: "/var/crash/202006231835/dump.202006231835"},
			lastWord: "out_of_memory",
		},
		{
			name: "crash with vmcore-dmesg.txt and vmcore (kexec-tools)",
			host: map[string]string{
				"var/crash/127.0.0.1-2023-05-10-03:12:44/vmcore-dmesg.txt": "@vmcore-dmesg-null-deref.txt",
				"var/crash/127.0.0.1-2023-05-10-03:12:44/vmcore":           "ELF",
			},
			want: event.Reboot{Cause: event.CauseKernelBug, CauseType: event.TypeKernelBug,
				CauseDetail: "BUG: kernel NULL pointer dereference, address: 0000000000000010",
				Sources:     []string{"kdump"}, Vmcore: "/var/crash/127.0.0.1-2023-05-10-03:12:44/vmcore"},
			lastWord: "Kernel Offset",
		},
		{
			name: "a vmcore without dmesg",
			host: map[string]string{"var/crash/202006231835/vmcore": "ELF"},
			want: event.Reboot{Cause: event.CauseUnknown, Sources: []string{"kdump"}, Vmcore: "/var/crash/202006231835/vmcore"},
		},
		{
			name:          "crash with no evidence: the journal just stops",
			host:          map[string]string{"var/log/journal/": ""},
			journalKernel: "journal-kernel-chatter.txt", journalAll: "journal-all-chatter.txt",
			want:     event.Reboot{Cause: event.CauseUnknown, Sources: []string{"journal"}},
			lastWord: "apparmor=\"DENIED\"",
		},
		{
			name: "crash with no evidence at all",
			want: event.Reboot{Cause: event.CauseUnknown},
		},
		{
			name: "previous boot not in the journal: kern.log instead",
			host: map[string]string{
				"var/log/journal/":   "",
				"var/log/kern.log":   "@kern.log",
				"var/log/kern.log.1": "@kern.log.1",
				"etc/localtime":      "@localtime-Asia-Shanghai",
			},
			want: event.Reboot{Cause: event.CauseKernelBug, CauseType: event.TypeKernelBug,
				CauseDetail: "kernel BUG at include/linux/fs.h:2582!", Sources: []string{"kern.log"}, CauseTime: bugAt},
			lastWord: "fs.h:2582!",
		},
		{
			name: "kern.log without the host's time zone: inferred from this boot's first line",
			host: map[string]string{
				"var/log/kern.log":   "@kern.log",
				"var/log/kern.log.1": "@kern.log.1",
				"var/log/syslog":     "@syslog-crash",
			},
			want: event.Reboot{Cause: event.CauseKernelBug, CauseType: event.TypeKernelBug,
				CauseDetail: "kernel BUG at include/linux/fs.h:2582!", Sources: []string{"kern.log"}, CauseTime: bugAt},
			lastWord: "fs.h:2582!",
		},
		{
			name: "clean reboot in syslog (volatile journal, Ubuntu 16.04)",
			host: map[string]string{
				"var/log/kern.log": "@kern.log-clean",
				"var/log/syslog":   "@syslog-clean",
				"etc/localtime":    "@localtime-Asia-Shanghai",
			},
			want:     event.Reboot{Clean: true, Cause: event.CauseClean, CauseDetail: "orderly shutdown in the previous boot's log", Sources: []string{"kern.log"}},
			lastWord: "veth3c1a7f2) entered disabled state",
		},
		{
			name:  "stop marker, but syslog shows no shutdown",
			host:  map[string]string{"var/log/syslog": "@syslog-crash", "etc/localtime": "@localtime-Asia-Shanghai"},
			state: map[string]string{"stop.json": stopClean},
			want:  event.Reboot{Cause: event.CauseUnknown},
		},
		{
			name:          "a container OOM is not why a node died",
			host:          map[string]string{"var/log/journal/": ""},
			journalKernel: "journal-kernel-memcg-oom.txt", journalAll: "journal-all-chatter.txt",
			want:     event.Reboot{Cause: event.CauseUnknown, Sources: []string{"journal"}},
			lastWord: "link becomes ready",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.host, tt.state)
			f.journalKernel, f.journalAll = tt.journalKernel, tt.journalAll
			for p, mt := range tt.mtimes {
				if err := os.Chtimes(filepath.Join(f.root, p), mt, mt); err != nil {
					t.Fatal(err)
				}
			}
			tr := f.tracker(t, reboot.Options{})
			got, err := tr.Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got == nil {
				t.Fatal("no reboot detected")
			}
			want := tt.want
			want.PreviousBootID, want.BootID, want.BootTime, want.LastHeartbeat = prevID, curID, curBoot, lastBeat
			want.PreviousKernel = "4.4.0-104-generic"
			lw := got.LastWords
			got.LastWords, got.Meminfo = nil, nil
			if !equalReboot(*got, want) {
				t.Fatalf("reboot\n got %+v\nwant %+v", *got, want)
			}
			switch {
			case tt.lastWord == "" && len(lw) > 0:
				t.Fatalf("last words %q, want none", lw)
			case tt.lastWord != "" && (len(lw) == 0 || !strings.Contains(lw[len(lw)-1], tt.lastWord)):
				t.Fatalf("last words end %q, want a line with %q", lw, tt.lastWord)
			}
			for _, l := range lw {
				if strings.Contains(l, "[    0.000000]") || strings.HasPrefix(l, "-- ") {
					t.Fatalf("last words hold a line that is not the previous boot's: %q", l)
				}
			}
			if _, err := event.New(event.TypeReboot, "src", "c", "n", got.BootTime, got); err != nil {
				t.Fatalf("not a valid node.reboot event: %v", err)
			}
		})
	}
}

func equalReboot(a, b event.Reboot) bool {
	return a.PreviousBootID == b.PreviousBootID && a.BootID == b.BootID && a.BootTime.Equal(b.BootTime) &&
		a.LastHeartbeat.Equal(b.LastHeartbeat) && a.Clean == b.Clean && a.Cause == b.Cause &&
		a.CauseDetail == b.CauseDetail && a.CauseType == b.CauseType && a.PreviousKernel == b.PreviousKernel &&
		slices.Equal(a.Sources, b.Sources) && a.Vmcore == b.Vmcore && a.CauseTime.Equal(b.CauseTime)
}

// TestBootTracking: the first start and restarts within a boot publish
// nothing; Commit makes the next boot's start see this one.
func TestBootTracking(t *testing.T) {
	f := newFixture(t, nil, map[string]string{"boot.json": "", "heartbeat": ""})
	tr := f.tracker(t, reboot.Options{})
	if r, err := tr.Check(context.Background()); err != nil || r != nil {
		t.Fatalf("first start: %+v, %v; want nothing", r, err)
	}
	if err := tr.Commit(); err != nil {
		t.Fatal(err)
	}
	beat := curBoot.Add(time.Hour)
	mem := &event.Meminfo{MemTotalKB: 16266500, MemFreeKB: 3250000, MemAvailableKB: 12860000, CachedKB: 13000000}
	if err := tr.Heartbeat(beat, mem); err != nil {
		t.Fatal(err)
	}
	// A collector restart in the same boot: a plain stop, then a start.
	if stopping, err := tr.Stopped(context.Background(), beat); err != nil || stopping {
		t.Fatalf("Stopped = %v, %v; want a plain stop", stopping, err)
	}
	tr = f.tracker(t, reboot.Options{})
	if r, err := tr.Check(context.Background()); err != nil || r != nil {
		t.Fatalf("restart in the same boot: %+v, %v; want nothing", r, err)
	}
	if err := tr.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.state, "stop.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a restart in the same boot left its stop marker: %v", err)
	}

	// The node reboots (no shutdown): the next start sees it.
	next := "0b6e3a5d-7c2f-4e1a-8d9b-1f2e3d4c5b6a"
	write(t, f.root, map[string]string{
		"proc/sys/kernel/random/boot_id": next + "\n",
		"proc/stat":                      "btime " + strconv.FormatInt(curBoot.Add(2*time.Hour).Unix(), 10) + "\n",
	})
	tr = f.tracker(t, reboot.Options{})
	r, err := tr.Check(context.Background())
	if err != nil || r == nil {
		t.Fatalf("after a reboot: %+v, %v", r, err)
	}
	if r.PreviousBootID != curID || r.BootID != next || !r.LastHeartbeat.Equal(beat) || r.Clean || r.Cause != event.CauseUnknown {
		t.Fatalf("after a reboot: %+v", r)
	}
	// No last words carried memory: the last heartbeat's snapshot is the
	// memory before the crash.
	if r.Meminfo == nil || *r.Meminfo != *mem || r.MeminfoSource != event.MeminfoFromHeartbeat || !r.MeminfoAt.Equal(beat) {
		t.Fatalf("memory before the crash: %+v from %q at %s; want %+v from the heartbeat at %s", r.Meminfo, r.MeminfoSource, r.MeminfoAt, mem, beat)
	}
	// Not committed (say the publish failed): the next start reports it again.
	tr = f.tracker(t, reboot.Options{})
	if r, _ := tr.Check(context.Background()); r == nil {
		t.Fatal("an uncommitted reboot was not reported again")
	}
}

// TestStoppedDetectsShutdown: the stop marker says the system was going
// down when the host's /run says so, or systemctl does on the host itself.
func TestStoppedDetectsShutdown(t *testing.T) {
	tests := []struct {
		name string
		host map[string]string
		want bool
	}{
		{"collector restart", nil, false},
		{"logins disabled for shutdown", map[string]string{"run/nologin": "System is going down."}, true},
		{"scheduled shutdown", map[string]string{"run/systemd/shutdown/scheduled": "USEC=1592111700000000\nWARN_WALL=1\nMODE=reboot\n"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.host, map[string]string{"stop.json": ""})
			tr := f.tracker(t, reboot.Options{})
			got, err := tr.Stopped(context.Background(), lastBeat)
			if err != nil || got != tt.want {
				t.Fatalf("Stopped = %v, %v; want %v", got, err, tt.want)
			}
			b, err := os.ReadFile(filepath.Join(f.state, "stop.json"))
			if err != nil || !strings.Contains(string(b), fmt.Sprintf(`"system_stopping":%v`, tt.want)) {
				t.Fatalf("stop marker %s, %v", b, err)
			}
		})
	}
	t.Run("systemctl on the host", func(t *testing.T) {
		if _, err := os.Stat("/proc/sys/kernel/random/boot_id"); err != nil {
			t.Skip("no /proc boot id here")
		}
		var asked []string
		tr, err := reboot.New(reboot.Options{HostRoot: "/", StateDir: t.TempDir(), Run: func(_ context.Context, name string, args ...string) ([]byte, error) {
			asked = append(asked, name+" "+strings.Join(args, " "))
			return []byte("stopping\n"), errors.New("exit status 1")
		}})
		if err != nil {
			t.Fatal(err)
		}
		got, err := tr.Stopped(context.Background(), lastBeat)
		if err != nil || !got {
			t.Fatalf("Stopped = %v, %v with systemctl saying stopping", got, err)
		}
		if _, err := os.Stat("/run/nologin"); err != nil && !slices.Contains(asked, "systemctl is-system-running") {
			t.Fatalf("systemctl not asked: %v", asked)
		}
	})
}

// TestBadState: unreadable state files never stop a start.
func TestBadState(t *testing.T) {
	tests := []struct {
		name  string
		state map[string]string
		check func(t *testing.T, r *event.Reboot)
	}{
		{"garbage boot state", map[string]string{"boot.json": "{not json"}, func(t *testing.T, r *event.Reboot) {
			if r != nil {
				t.Fatalf("garbage boot state reported a reboot: %+v", r)
			}
		}},
		{"garbage heartbeat", map[string]string{"heartbeat": prevID + " yesterday"}, func(t *testing.T, r *event.Reboot) {
			if r == nil || !r.LastHeartbeat.IsZero() {
				t.Fatalf("got %+v, want a reboot without a last heartbeat", r)
			}
		}},
		{"garbage memory snapshot", map[string]string{"heartbeat": prevID + " " + lastBeat.Format(time.RFC3339) + " {mem"}, func(t *testing.T, r *event.Reboot) {
			if r == nil || !r.LastHeartbeat.Equal(lastBeat) || r.Meminfo != nil || r.MeminfoSource != "" {
				t.Fatalf("got %+v, want the last heartbeat without memory", r)
			}
		}},
		{"heartbeat of another boot", map[string]string{"heartbeat": curID + " " + lastBeat.Format(time.RFC3339)}, func(t *testing.T, r *event.Reboot) {
			if r == nil || !r.LastHeartbeat.IsZero() {
				t.Fatalf("got %+v, want a reboot without a last heartbeat", r)
			}
		}},
		{"garbage stop marker", map[string]string{"stop.json": "\x00\x01"}, func(t *testing.T, r *event.Reboot) {
			if r == nil || r.Clean {
				t.Fatalf("got %+v, want an unclean reboot", r)
			}
		}},
		{"stop marker of another boot", map[string]string{"stop.json": `{"boot_id":"00000000-0000-0000-0000-000000000000","system_stopping":true}`}, func(t *testing.T, r *event.Reboot) {
			if r == nil || r.Clean {
				t.Fatalf("got %+v, want an unclean reboot", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, nil, tt.state)
			r, err := f.tracker(t, reboot.Options{}).Check(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, r)
		})
	}
}

func TestBadHost(t *testing.T) {
	tests := []struct {
		name string
		host map[string]string
		want string
	}{
		{"no boot id", map[string]string{"proc/sys/kernel/random/boot_id": ""}, "read boot id"},
		{"no btime", map[string]string{"proc/stat": "cpu 1 2 3\n"}, "no btime line"},
		{"bad btime", map[string]string{"proc/stat": "btime soon\n"}, "parse /proc/stat btime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.host, nil)
			if tt.host["proc/sys/kernel/random/boot_id"] == "" && strings.Contains(tt.name, "boot id") {
				os.Remove(filepath.Join(f.root, "proc/sys/kernel/random/boot_id"))
			}
			_, err := reboot.New(reboot.Options{HostRoot: f.root, StateDir: f.state})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New = %v, want an error with %q", err, tt.want)
			}
		})
	}
	if _, err := reboot.New(reboot.Options{HostRoot: "/"}); err == nil || !strings.Contains(err.Error(), "state dir") {
		t.Fatalf("no state dir: %v", err)
	}
}

// TestLastWordsBounded: however long the lines, the event stays far below
// the 64 KiB limit.
func TestLastWordsBounded(t *testing.T) {
	long := strings.Repeat("x", 4000)
	var b strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&b, "[%5d.000000] %d %s\n", i, i, long)
	}
	f := newFixture(t, map[string]string{"var/crash/202006231835/dmesg.202006231835": b.String()}, nil)
	for _, n := range []int{3, 500} {
		r, err := f.tracker(t, reboot.Options{MaxLastWords: n}).Check(context.Background())
		if err != nil || r == nil {
			t.Fatal(r, err)
		}
		if len(r.LastWords) == 0 || len(r.LastWords) > n {
			t.Fatalf("max %d: %d last words", n, len(r.LastWords))
		}
		if !strings.Contains(r.LastWords[len(r.LastWords)-1], " 2999 ") {
			t.Fatalf("max %d: last words do not end at the end: %.40q", n, r.LastWords[len(r.LastWords)-1])
		}
		ev, err := event.New(event.TypeReboot, "src", "c", "n", r.BootTime, r)
		if err != nil {
			t.Fatalf("max %d: %v", n, err)
		}
		if b, _ := ev.Encode(); len(b) > 24<<10 {
			t.Fatalf("max %d: event is %d bytes", n, len(b))
		}
	}
}

// TestMemoryBeforeTheCrash: last words read after the reboot carry no
// memory, so the last heartbeat's snapshot is the memory before the crash,
// dated, and its age is counted up to the cause's own log time.
func TestMemoryBeforeTheCrash(t *testing.T) {
	mem := `{"mem_total_kb":16266500,"mem_free_kb":3250000,"mem_available_kb":12860000,"cached_kb":13000000}`
	f := newFixture(t, map[string]string{"var/log/journal/": ""}, map[string]string{
		"heartbeat": prevID + " " + lastBeat.Format(time.RFC3339Nano) + " " + mem + "\n",
	})
	f.journalKernel, f.journalAll = "journal-kernel-incident.txt", "journal-all-crash.txt"
	r, err := f.tracker(t, reboot.Options{}).Check(context.Background())
	if err != nil || r == nil {
		t.Fatalf("Check: %+v, %v", r, err)
	}
	if r.Cause != event.CauseKernelBug || r.Meminfo == nil || r.Meminfo.MemAvailableKB != 12860000 {
		t.Fatalf("cause %q memory %+v: want the kernel BUG and the heartbeat's memory", r.Cause, r.Meminfo)
	}
	// The BUG was logged at 13:14:38 +0800, 8 s after the last heartbeat.
	wantCause := time.Date(2020, 6, 14, 5, 14, 38, 0, time.UTC)
	if r.MeminfoSource != event.MeminfoFromHeartbeat || !r.MeminfoAt.Equal(lastBeat) || !r.CauseTime.Equal(wantCause) || r.MeminfoAgeSeconds != 8 {
		t.Fatalf("memory from %q at %s, cause at %s, age %vs; want the heartbeat at %s, the cause at %s, 8s",
			r.MeminfoSource, r.MeminfoAt, r.CauseTime, r.MeminfoAgeSeconds, lastBeat, wantCause)
	}
}

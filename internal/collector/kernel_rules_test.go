package collector_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kernel"
	"github.com/aftershock/aftershock/internal/kmsg"
	"github.com/aftershock/aftershock/internal/router"
)

// TestKernelLogsRaise: every kernel log of the signature pack's fixtures,
// read by the collector's matcher and fed to the shipped rules as the live
// watcher would send it, raises the alerts listed (before routing's
// inhibitions), so no kernel problem the collector reports goes unsaid and
// the negatives stay quiet. A new fixture must be added here. What raises
// nothing on purpose: a single container OOM (container-oom-kills counts
// five), corrected hardware errors.
func TestKernelLogsRaise(t *testing.T) {
	want := map[string]string{
		"k44-arm64-null-deref.dmesg":      "kernel-oops",
		"k44-bad-page.dmesg":              "kernel-oops",
		"k44-bug-fs-h.dmesg":              "kernel-oops known-kernel-bug",
		"k44-conntrack.kern.log":          "conntrack-full",
		"k44-ext4.dmesg":                  "filesystem-errors",
		"k44-gpf.dmesg":                   "kernel-oops",
		"k44-hard-lockup.dmesg":           "kernel-oops",
		"k44-hung-task.kern.log":          "task-hung",
		"k44-incident.journal":            "kernel-oops", // no kernel release in it: the known bug needs 4.4
		"k44-io-error.dmesg":              "disk-io-errors",
		"k44-list-del.dmesg":              "kernel-oops",
		"k44-mce-fatal.dmesg":             "hardware-errors kernel-oops",
		"k44-netdev-watchdog.dmesg":       "nic-tx-timeout",
		"k44-netdevice.dmesg":             "known-kernel-bug",
		"k44-null-deref.dmesg":            "kernel-oops",
		"k44-nvme.dmesg":                  "disk-io-errors",
		"k44-oom-global.dmesg":            "global-oom",
		"k44-oom-memcg.dmesg":             "",
		"k44-paging-request.dmesg":        "kernel-oops",
		"k44-panic-oom.dmesg":             "global-oom kernel-oops",
		"k44-rcu-flavours.dmesg":          "kernel-oops",
		"k44-rcu-stall.dmesg":             "kernel-oops",
		"k44-soft-lockup.dmesg":           "kernel-oops",
		"k44-xfs-shutdown.dmesg":          "filesystem-errors",
		"k515-arm64-paging.dmesg":         "kernel-oops",
		"k515-arm64-soft-lockup.dmesg":    "kernel-oops",
		"k515-gpf.dmesg":                  "kernel-oops",
		"k515-hard-lockup.dmesg":          "kernel-oops",
		"k515-list-del-warn.dmesg":        "kernel-oops",
		"k515-mce-corrected.dmesg":        "",
		"k515-netdev-watchdog.dmesg":      "nic-tx-timeout",
		"k515-oom-memcg-systemd.kmsg":     "",
		"k515-page-fault.dmesg":           "kernel-oops",
		"k515-panic.dmesg":                "kernel-oops",
		"k515-rcu-flavours.dmesg":         "kernel-oops",
		"k515-soft-lockup.journal":        "kernel-oops",
		"k54-blk-io-op.dmesg":             "disk-io-errors",
		"k54-null-deref-panic.kmsg":       "kernel-oops",
		"k54-oom-global.dmesg":            "global-oom",
		"k54-panic-on-oom.dmesg":          "global-oom kernel-oops",
		"k54-sched-atomic.dmesg":          "kernel-oops",
		"k6-bug-at.dmesg":                 "kernel-oops",
		"k6-conntrack.dmesg":              "conntrack-full",
		"k6-hung-task.dmesg":              "task-hung",
		"k6-io-error.dmesg":               "disk-io-errors",
		"k6-netdev-watchdog.dmesg":        "nic-tx-timeout",
		"k6-netdevice.journal":            "known-kernel-bug",
		"k6-rcu-stall.dmesg":              "kernel-oops",
		"k6-xfs.dmesg":                    "filesystem-errors",
		"k61-arm64-ghes.dmesg":            "hardware-errors kernel-oops",
		"k61-oom-group.kmsg":              "",
		"k61-oom-memcg-v2-cgroupfs.dmesg": "",
		"k61-softlockup-panic.dmesg":      "kernel-oops",
		"k613-arm64-bug.dmesg":            "kernel-oops",
		"k613-arm64-hard-lockup.dmesg":    "kernel-oops",
		"k613-bad-page.dmesg":             "kernel-oops",
		"k613-ext4.dmesg":                 "filesystem-errors",
		"k613-gpf.dmesg":                  "kernel-oops",
		"k613-hung-task.dmesg":            "task-hung",
		"k613-list-add-bug.dmesg":         "kernel-oops",
		"k613-nvme.dmesg":                 "disk-io-errors",
		"k613-soft-lockup.dmesg":          "kernel-oops",
		"k613-xfs-shutdown.dmesg":         "filesystem-errors",
		"negative-4.4.journal":            "",
		"negative-boot-5.15.dmesg":        "",
		"negative-user-kmsg.dmesg":        "",
		"negative-user-kmsg.kmsg":         "",
		"negative-userspace-oom.dmesg":    "",
		"negative-userspace-oom.journal":  "",
		"negative-warnings.dmesg":         "",
	}
	set, err := router.LoadRules("../../rules", nil)
	if err != nil {
		t.Fatal(err)
	}
	m := kernel.NewMatcher(kernel.DefaultPack(), kernel.Options{})
	files, err := filepath.Glob("../kernel/testdata/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("fixtures: %v", err)
	}
	base := time.Date(2024, 3, 2, 4, 0, 0, 0, time.UTC)
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			exp, ok := want[name]
			if !ok {
				t.Fatalf("%s is not in the table: add what it should raise", name)
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			fs, _, err := m.ScanLog(strings.NewReader(string(b)), kmsg.Options{Format: kmsg.FormatAuto, Year: 2024, Location: time.UTC})
			if err != nil {
				t.Fatal(err)
			}
			e := correlate.New(set, bustest.Logger(t), correlate.Options{})
			var rules []string
			for i, fd := range fs {
				at := base.Add(time.Duration(i) * time.Second)
				ev, err := event.New(fd.Type, "test", "prod", "n1", at, fd.Data)
				if err != nil {
					t.Fatal(err)
				}
				for _, a := range e.Process(ev, correlate.Meta{Arrival: at}) {
					rules = append(rules, a.Rule)
				}
			}
			slices.Sort(rules)
			if got := strings.Join(slices.Compact(rules), " "); got != exp {
				t.Errorf("raises %q, want %q", got, exp)
			}
		})
	}
}

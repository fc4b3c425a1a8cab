package reboot

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kernel"
)

// TestCauseOfKernelLogs: the cause a reboot report gives for the kernel
// signature pack's own fixtures read as a previous boot's dmesg, as a kdump
// or pstore record would hold them: what people read in the crash page's
// title.
func TestCauseOfKernelLogs(t *testing.T) {
	pack := PackClassifier(kernel.NewMatcher(kernel.DefaultPack(), kernel.Options{}))
	for _, tc := range []struct {
		file, cause, detail string
	}{
		{"k44-bug-fs-h.dmesg", event.CauseKernelBug, "kernel BUG at include/linux/fs.h:2582!"},
		{"k44-oom-global.dmesg", event.CauseOOM, "java invoked oom-killer; global OOM: killed java (pid 30311, 6.9 GiB resident)"},
		// panic_on_oom panics before a victim is picked: nobody was killed.
		{"k54-panic-on-oom.dmesg", event.CauseOOM, "java invoked oom-killer; global OOM (panic_on_oom)"},
		{"k44-panic-oom.dmesg", event.CauseOOM, "kubelet invoked oom-killer; global OOM (no killable processes)"},
		{"k61-softlockup-panic.dmesg", event.CauseLockup, "watchdog: BUG: soft lockup - CPU#2 stuck for 22s! [java:4412]"},
		{"k44-mce-fatal.dmesg", event.CauseHardware, "mce: [Hardware Error]: CPU 11: Machine Check Exception: 5 Bank 4: be00000000800400"},
		{"k44-oom-memcg.dmesg", "", ""}, // a container at its limit does not end a boot
	} {
		t.Run(tc.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("../kernel/testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			var found []sourced
			for _, f := range pack(FormatDmesg, strings.Split(strings.TrimRight(string(b), "\n"), "\n"), Dating{}) {
				found = append(found, sourced{Finding: f})
			}
			best, ok, _ := pickCause(found)
			if !ok {
				if tc.cause != "" {
					t.Fatalf("no cause in %d findings, want %s", len(found), tc.cause)
				}
				return
			}
			cause, _, detail, _ := describe(best.Finding, found)
			if cause != tc.cause || detail != tc.detail {
				t.Errorf("cause %s %q, want %s %q", cause, detail, tc.cause, tc.detail)
			}
			if !best.Time.IsZero() {
				t.Errorf("an undated dmesg gave the cause a time: %s", best.Time)
			}
		})
	}
}

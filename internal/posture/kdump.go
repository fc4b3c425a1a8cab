package posture

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strings"

	"github.com/aftershock/aftershock/internal/event"
)

// DefaultKdumpMinFreeMB is the free space a crash dir needs to count as
// ready: a makedumpfile-filtered vmcore of a busy node is a few hundred MB
// to a few GB; the dmesg alone is small.
const DefaultKdumpMinFreeMB = 1024

// Kdump says whether a kernel crash now would leave a vmcore, and if not,
// why. All three must hold: memory reserved for a crash kernel
// (crashkernel= on the command line, and the kernel actually reserved it),
// a crash kernel loaded into it (kdump-tools / kdump.service ran kexec -p),
// and room in the crash directory.
func (h Host) Kdump() *event.KdumpState {
	k := &event.KdumpState{}
	var reasons []string
	if cmdline, err := h.readTrim("/proc/cmdline"); err != nil {
		reasons = append(reasons, "cannot read /proc/cmdline: "+err.Error())
	} else if k.CrashKernel = cmdlineParam(cmdline, "crashkernel"); k.CrashKernel == "" {
		reasons = append(reasons, "no crashkernel= on the kernel command line: no memory is reserved for a crash kernel")
	} else if size, err := h.readTrim("/sys/kernel/kexec_crash_size"); err == nil && size == "0" {
		reasons = append(reasons, fmt.Sprintf("crashkernel=%s is set but the kernel reserved nothing (/sys/kernel/kexec_crash_size is 0)", k.CrashKernel))
	}
	switch loaded, err := h.readTrim("/sys/kernel/kexec_crash_loaded"); {
	case err != nil:
		reasons = append(reasons, "cannot read /sys/kernel/kexec_crash_loaded: "+err.Error())
	case loaded == "1":
		k.CrashLoaded = true
	default:
		reasons = append(reasons, "no crash kernel loaded (/sys/kernel/kexec_crash_loaded is 0): the kdump service is not running or failed")
	}
	k.CrashDir = h.crashDir()
	minMB := h.KdumpMinFreeMB
	if minMB == 0 {
		minMB = DefaultKdumpMinFreeMB
	}
	if free, err := freeMB(h.Path(k.CrashDir)); err != nil {
		reasons = append(reasons, fmt.Sprintf("crash dir %s: %v", k.CrashDir, err))
	} else {
		k.CrashDirFreeMB = free
		if free < minMB {
			// No figure in the reason: posture is republished on change,
			// and free space changes all the time.
			reasons = append(reasons, fmt.Sprintf("crash dir %s has less than %d MB free", k.CrashDir, minMB))
		}
	}
	k.Ready = len(reasons) == 0
	k.Reasons = reasons
	return k
}

// crashDir is where kdump writes: KDUMP_COREDIR in /etc/default/kdump-tools
// (Debian, Ubuntu), "path" in /etc/kdump.conf (RHEL family), else /var/crash.
func (h Host) crashDir() string {
	if b, err := os.ReadFile(h.Path("/etc/default/kdump-tools")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			if v, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), "KDUMP_COREDIR="); ok {
				if v = strings.Trim(v, `"'`); strings.HasPrefix(v, "/") {
					return v
				}
			}
		}
	}
	if b, err := os.ReadFile(h.Path("/etc/kdump.conf")); err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			f := strings.Fields(sc.Text())
			if len(f) == 2 && f[0] == "path" && strings.HasPrefix(f[1], "/") {
				return f[1]
			}
		}
	}
	return "/var/crash"
}

// cmdlineParam returns the value of name=value on a kernel command line
// (the last one wins, as in the kernel).
func cmdlineParam(cmdline, name string) string {
	v := ""
	for _, f := range strings.Fields(cmdline) {
		if val, ok := strings.CutPrefix(f, name+"="); ok {
			v = val
		}
	}
	return v
}

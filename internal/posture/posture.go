// Package posture reads what a node is from its /proc, /sys and /etc: boot
// id, uptime, kernel and OS. All paths resolve under a host root so the
// collector can run in a container with the host mounted, and tests can use
// fixture trees.
package posture

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// Host resolves host paths under Root.
type Host struct {
	Root string
	// KdumpMinFreeMB is the free space the crash dir needs for kdump to
	// count as ready (default DefaultKdumpMinFreeMB).
	KdumpMinFreeMB int64
}

// Path joins p under the host root.
func (h Host) Path(p string) string {
	return filepath.Join(h.Root, p)
}

func (h Host) readTrim(p string) (string, error) {
	b, err := os.ReadFile(h.Path(p))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// BootID is the kernel's random id of the current boot.
func (h Host) BootID() (string, error) {
	id, err := h.readTrim("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return "", fmt.Errorf("read boot id: %w", err)
	}
	return id, nil
}

// Uptime is the time since boot.
func (h Host) Uptime() (time.Duration, error) {
	s, err := h.readTrim("/proc/uptime")
	if err != nil {
		return 0, fmt.Errorf("read uptime: %w", err)
	}
	f, _, _ := strings.Cut(s, " ")
	secs, err := strconv.ParseFloat(f, 64)
	if err != nil {
		return 0, fmt.Errorf("parse uptime %q: %w", s, err)
	}
	return time.Duration(secs * float64(time.Second)), nil
}

// BootTime is when the kernel booted: the btime line of /proc/stat.
func (h Host) BootTime() (time.Time, error) {
	b, err := os.ReadFile(h.Path("/proc/stat"))
	if err != nil {
		return time.Time{}, fmt.Errorf("read boot time: %w", err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			secs, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("parse /proc/stat btime %q: %w", strings.TrimSpace(v), err)
			}
			return time.Unix(secs, 0).UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("read boot time: no btime line in %s", h.Path("/proc/stat"))
}

// KernelRelease is the running kernel's release, e.g. 4.4.0-104-generic.
func (h Host) KernelRelease() (string, error) {
	return h.readTrim("/proc/sys/kernel/osrelease")
}

// Read gathers the node's posture. Missing files leave fields empty rather
// than failing: a minimal container image must not stop the heartbeat.
func (h Host) Read() event.Posture {
	p := event.Posture{Arch: runtime.GOARCH}
	p.BootID, _ = h.BootID()
	p.KernelRelease, _ = h.readTrim("/proc/sys/kernel/osrelease")
	p.KernelVersion, _ = h.readTrim("/proc/sys/kernel/version")
	osr := h.osRelease()
	p.OS = osr["PRETTY_NAME"]
	p.OSID = osr["ID"]
	p.OSVersionID = osr["VERSION_ID"]
	p.Kdump = h.Kdump()
	p.Pods, p.PodsOmitted = h.PodsWithIPs()
	return p
}

func (h Host) osRelease() map[string]string {
	out := map[string]string{}
	b, err := os.ReadFile(h.Path("/etc/os-release"))
	if err != nil {
		if b, err = os.ReadFile(h.Path("/usr/lib/os-release")); err != nil {
			return out
		}
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		if uq, err := strconv.Unquote(v); err == nil {
			v = uq
		}
		out[strings.TrimSpace(k)] = v
	}
	return out
}

// ChangeKey identifies a posture for "publish on change": the crash dir's
// free space is left out, since it moves all the time (Ready and Reasons
// still change when it crosses the threshold).
func ChangeKey(p event.Posture) string {
	if p.Kdump != nil {
		k := *p.Kdump
		k.CrashDirFreeMB = 0
		p.Kdump = &k
	}
	b, _ := json.Marshal(p)
	return string(b)
}

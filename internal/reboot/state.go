package reboot

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/atomicfile"
	"github.com/aftershock/aftershock/internal/event"
)

// Files in the state directory. Each is replaced atomically (write a
// temporary file, rename), so a crash leaves the old or the new content.
const (
	bootFile      = "boot.json" // the boot this collector last started in
	heartbeatFile = "heartbeat" // "<boot id> <RFC 3339 time>[ <meminfo JSON>]" of the last heartbeat
	stopFile      = "stop.json" // the clean-stop marker
)

// bootState is what the collector remembers of the boot it ran in.
type bootState struct {
	BootID        string    `json:"boot_id"`
	BootTime      time.Time `json:"boot_time"`
	KernelRelease string    `json:"kernel_release,omitempty"`
}

// stopMarker is written when the collector stops; SystemStopping says the
// host was shutting down at the time.
type stopMarker struct {
	BootID         string    `json:"boot_id"`
	Time           time.Time `json:"time"`
	SystemStopping bool      `json:"system_stopping"`
	// Evidence names what said the system was stopping.
	Evidence string `json:"evidence,omitempty"`
}

func (t *Tracker) statePath(name string) string { return filepath.Join(t.opts.StateDir, name) }

// readJSON reads a state file; a missing file is (false, nil), and an
// unreadable one is logged and treated as missing: state must never stop a
// start.
func (t *Tracker) readJSON(name string, v any) bool {
	b, err := os.ReadFile(t.statePath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		t.log.Warn("ignoring unreadable state file", "file", t.statePath(name), "err", err)
		return false
	}
	return true
}

func (t *Tracker) writeJSON(name string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return writeAtomic(t.statePath(name), b)
}

// lastBeat is what the state dir says of a boot's last heartbeat.
type lastBeat struct {
	at  time.Time
	mem *event.Meminfo
}

// readHeartbeat returns the last heartbeat recorded in boot id, with the
// memory snapshot taken then (older collectors wrote none).
func (t *Tracker) readHeartbeat(bootID string) lastBeat {
	b, err := os.ReadFile(t.statePath(heartbeatFile))
	if err != nil {
		return lastBeat{}
	}
	id, rest, ok := strings.Cut(strings.TrimSpace(string(b)), " ")
	if !ok || id != bootID {
		return lastBeat{}
	}
	ts, mem, _ := strings.Cut(rest, " ")
	hb, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		t.log.Warn("ignoring unreadable heartbeat state", "content", string(b))
		return lastBeat{}
	}
	out := lastBeat{at: hb}
	if mem != "" {
		var mi event.Meminfo
		if err := json.Unmarshal([]byte(mem), &mi); err != nil || mi.MemTotalKB <= 0 {
			t.log.Warn("ignoring unreadable memory snapshot in heartbeat state", "err", err)
		} else {
			out.mem = &mi
		}
	}
	return out
}

func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o640)
}

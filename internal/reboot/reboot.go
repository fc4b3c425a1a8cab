// Package reboot finds out, when the collector starts, whether the node
// rebooted since it last ran, and why: it compares the kernel's boot id with
// the one saved in the state directory and, on a change, reads what
// survived of the previous boot (its kernel log in the journal or kern.log,
// pstore records, kdump's dmesg and vmcore), classifies it with the kernel
// signature pack, and builds the node.reboot event.
//
// Clean or not: the collector writes a stop marker when it is stopped while
// the host is shutting down (see Tracker.Stopped for how that is detected).
// The previous boot's journal, when it is persistent, has the last word: it
// shows systemd reaching the shutdown targets. A crash dump (pstore, kdump)
// with a fatal finding overrides both: a kernel can also die on its way down.
package reboot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/posture"
)

// Runner runs a host command and returns its standard output, also when it
// exits non-zero (systemctl is-system-running does for "stopping"); tests
// pass one that serves fixture files.
type Runner func(ctx context.Context, name string, args ...string) ([]byte, error)

// ExecRunner runs commands with os/exec.
func ExecRunner(ctx context.Context, name string, args ...string) ([]byte, error) {
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && len(ee.Stderr) > 0 {
			return out, fmt.Errorf("%s: %w: %s", name, err, firstLine(string(ee.Stderr)))
		}
		return out, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// Options configure a Tracker; Defaults fills zero fields.
type Options struct {
	// HostRoot is where the host's filesystem is mounted.
	HostRoot string
	// StateDir holds the tracker's files (boot, heartbeat, stop marker).
	StateDir string
	// Run runs journalctl and systemctl (default ExecRunner).
	Run Runner
	// Classify finds kernel events in the last words: the kernel
	// signature pack. Nil classifies nothing (cause clean or unknown).
	Classify Classifier
	// MaxScanLines bounds how many lines of each source are read and
	// classified (default 2000).
	MaxScanLines int
	// MaxLastWords bounds the lines carried in the event (default 50).
	MaxLastWords int
	Log          *slog.Logger
}

// Defaults fills zero fields.
func (o *Options) Defaults() {
	if o.HostRoot == "" {
		o.HostRoot = "/"
	}
	if o.Run == nil {
		o.Run = ExecRunner
	}
	if o.MaxScanLines == 0 {
		o.MaxScanLines = 2000
	}
	if o.MaxLastWords == 0 {
		o.MaxLastWords = 50
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate names every bad field.
func (o *Options) Validate() error {
	var errs []error
	if o.StateDir == "" {
		errs = append(errs, errors.New("reboot state dir: empty"))
	}
	if o.MaxScanLines < 1 {
		errs = append(errs, fmt.Errorf("reboot max scan lines %d: must be positive", o.MaxScanLines))
	}
	if o.MaxLastWords < 1 || o.MaxLastWords > 500 {
		errs = append(errs, fmt.Errorf("reboot max last words %d: must be 1..500", o.MaxLastWords))
	}
	return errors.Join(errs...)
}

// Tracker remembers boots in the state directory.
type Tracker struct {
	opts Options
	host posture.Host
	log  *slog.Logger
	cur  bootState
}

// New reads the current boot's id, time and kernel.
func New(opts Options) (*Tracker, error) {
	opts.Defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("reboot state dir: %w", err)
	}
	t := &Tracker{opts: opts, host: posture.Host{Root: opts.HostRoot}, log: opts.Log.With("component", "reboot")}
	var err error
	if t.cur.BootID, err = t.host.BootID(); err != nil {
		return nil, err
	}
	if t.cur.BootTime, err = t.host.BootTime(); err != nil {
		return nil, err
	}
	t.cur.KernelRelease, _ = t.host.KernelRelease()
	return t, nil
}

// BootID is the current boot's id.
func (t *Tracker) BootID() string { return t.cur.BootID }

// Check compares the current boot with the one saved. It returns the
// node.reboot data when the boot changed, and nil on the first start or a
// collector restart within the same boot. Call Commit once the event is
// published (or spooled), so a failure retries at the next start. Check is
// meant to run once per start: it drops the classifier when done, so a
// long-running collector does not keep a second compiled signature pack.
func (t *Tracker) Check(ctx context.Context) (*event.Reboot, error) {
	defer func() { t.opts.Classify = nil }()
	var prev bootState
	if !t.readJSON(bootFile, &prev) || prev.BootID == "" {
		t.log.Info("first start on this node: no previous boot known", "boot_id", t.cur.BootID)
		return nil, nil
	}
	if prev.BootID == t.cur.BootID {
		return nil, nil
	}
	beat := t.readHeartbeat(prev.BootID)
	r := &event.Reboot{
		PreviousBootID: prev.BootID,
		BootID:         t.cur.BootID,
		BootTime:       t.cur.BootTime,
		LastHeartbeat:  beat.at,
		PreviousKernel: prev.KernelRelease,
	}
	var stop stopMarker
	markerClean := t.readJSON(stopFile, &stop) && stop.BootID == prev.BootID && stop.SystemStopping
	logClean, logSeen := t.logShutdown(ctx, prev, t.cur.BootTime)

	lws, vmcore := t.gather(ctx, prev, t.cur.BootTime)
	r.Vmcore = vmcore
	var found []sourced
	for _, lw := range lws {
		r.Sources = append(r.Sources, lw.source)
		if t.opts.Classify == nil {
			continue
		}
		for _, f := range t.opts.Classify(lw.format, lw.lines, lw.dating) {
			found = append(found, sourced{Finding: f, lw: lw})
		}
	}
	if vmcore != "" && !slices.Contains(r.Sources, SourceKdump) {
		r.Sources = append(r.Sources, SourceKdump)
	}
	cause, ok, crashed := pickCause(found)
	switch {
	case crashed:
		// A crash dump with a fatal finding outranks any sign of a clean stop.
	case logSeen && logClean, !logSeen && markerClean:
		r.Clean = true
		r.Cause = event.CauseClean
		r.CauseDetail = cleanDetail(logSeen, stop)
	}
	if !r.Clean {
		r.Cause = event.CauseUnknown
		if ok {
			r.Cause, r.CauseType, r.CauseDetail, r.Meminfo = describe(cause.Finding, found)
			if !cause.Time.IsZero() {
				r.CauseTime = cause.Time.UTC()
			}
			if r.PreviousKernel == "" {
				r.PreviousKernel = kernelOf(cause.Finding)
			}
		}
	}
	if r.PreviousKernel == "" {
		for _, f := range found {
			if k := kernelOf(f.Finding); k != "" {
				r.PreviousKernel = k
				break
			}
		}
	}
	r.LastWords = t.lastWordsOf(lws, cause, ok)
	memoryBefore(r, beat)
	return r, nil
}

// Commit records the current boot as seen, so the next start in this boot
// publishes nothing, and clears the previous boot's stop marker.
func (t *Tracker) Commit() error {
	if err := t.writeJSON(bootFile, t.cur); err != nil {
		return fmt.Errorf("save boot state: %w", err)
	}
	if err := os.Remove(t.statePath(stopFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("clear stop marker: %w", err)
	}
	return nil
}

// Heartbeat records the time of a heartbeat and the memory then (nil: not
// read): after a crash, the last one is the best estimate of when the node
// died and of the memory it died with, whatever the last words hold. One
// small atomic file write.
func (t *Tracker) Heartbeat(at time.Time, mem *event.Meminfo) error {
	line := fmt.Appendf(nil, "%s %s", t.cur.BootID, at.UTC().Format(time.RFC3339Nano))
	if mem != nil {
		b, err := json.Marshal(mem)
		if err != nil {
			return fmt.Errorf("encode memory snapshot: %w", err)
		}
		line = append(append(line, ' '), b...)
	}
	return writeAtomic(t.statePath(heartbeatFile), append(line, '\n'))
}

// memoryBefore fills the memory before the crash: the kernel report's own
// snapshot when the cause carried one, else the last heartbeat's.
func memoryBefore(r *event.Reboot, beat lastBeat) {
	switch {
	case r.Meminfo != nil:
		r.MeminfoSource = event.MeminfoFromReport
	case beat.mem != nil:
		r.Meminfo, r.MeminfoSource, r.MeminfoAt = beat.mem, event.MeminfoFromHeartbeat, beat.at.UTC()
		if !r.CauseTime.IsZero() && !r.CauseTime.Before(r.MeminfoAt) {
			r.MeminfoAgeSeconds = r.CauseTime.Sub(r.MeminfoAt).Seconds()
		}
	}
}

// Stopped writes the stop marker, saying whether the host is shutting down.
// The collector calls it when it is told to stop; a plain collector restart
// marks SystemStopping false, and the next start in the same boot removes
// the marker anyway.
func (t *Tracker) Stopped(ctx context.Context, at time.Time) (systemStopping bool, err error) {
	m := stopMarker{BootID: t.cur.BootID, Time: at.UTC()}
	m.SystemStopping, m.Evidence = t.systemStopping(ctx)
	if err := t.writeJSON(stopFile, m); err != nil {
		return m.SystemStopping, fmt.Errorf("save stop marker: %w", err)
	}
	return m.SystemStopping, nil
}

func (t *Tracker) lastWordsOf(lws []lastWords, cause sourced, ok bool) []string {
	var lines []string
	if ok {
		lines = cause.lw.lines
	} else {
		for _, lw := range lws {
			if len(lw.lines) > 0 {
				lines = lw.lines
				break
			}
		}
	}
	lines = tail(lines, t.opts.MaxLastWords)
	// Keep the newest lines within a byte budget, so the event stays far
	// below the 64 KiB limit whatever the lines hold.
	size := 0
	for i := len(lines) - 1; i >= 0; i-- {
		if size += len(lines[i]) + 8; size > maxLastWordsBytes {
			lines = lines[i+1:]
			break
		}
	}
	return append([]string(nil), lines...)
}

// maxLastWordsBytes bounds LastWords in a node.reboot event.
const maxLastWordsBytes = 16 << 10

func cleanDetail(logSeen bool, stop stopMarker) string {
	if logSeen {
		return "orderly shutdown in the previous boot's log"
	}
	return "collector stopped while the system was shutting down (" + stop.Evidence + ")"
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

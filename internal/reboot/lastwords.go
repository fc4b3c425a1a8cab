package reboot

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Source names, in event.Reboot.Sources.
const (
	SourceJournal = "journal"
	SourceKernLog = "kern.log"
	SourcePstore  = "pstore"
	SourceKdump   = "kdump"
)

// Log formats handed to the Classifier: the formats of internal/kmsg.
const (
	FormatJournal = "journal" // journalctl short-iso, syslog
	FormatDmesg   = "dmesg"   // "[  123.456789] text", with or without "<N>"
)

// lastWords is what one source kept of the previous boot.
type lastWords struct {
	source string
	format string
	path   string // host path (or the command) it came from
	lines  []string
	// crashDump marks pstore and kdump records: written because the kernel
	// crashed (or was told to dump), never by an orderly shutdown.
	crashDump bool
	// dating completes classic syslog timestamps (kern.log).
	dating Dating
}

const (
	maxLineBytes = 1024      // a kernel line is at most ~1 KiB
	maxTailBytes = 512 << 10 // read at most this much of the end of a file
)

// gather collects the previous boot's last words from every source there
// is, each bounded to the last MaxScanLines lines, and a kdump vmcore's path.
func (t *Tracker) gather(ctx context.Context, prev bootState, bootTime time.Time) (lws []lastWords, vmcore string) {
	if lw, ok := t.journal(ctx, prev.BootID, "-k"); ok {
		lws = append(lws, lw)
	} else if lw, ok := t.kernLog(prev.BootTime, bootTime); ok {
		lws = append(lws, lw)
	}
	if lw, ok := t.pstore(prev.BootTime); ok {
		lws = append(lws, lw)
	}
	if lw, vm, ok := t.kdump(prev.BootTime); ok {
		vmcore = vm
		if len(lw.lines) > 0 {
			lws = append(lws, lw)
		}
	}
	return lws, vmcore
}

// journalArgs builds a journalctl command line for the previous boot. The
// boot is named by id, not "-1": when a crash lost a boot's journal, "-1"
// would silently be an older boot.
func (t *Tracker) journalArgs(bootID string, extra ...string) []string {
	args := []string{"--no-pager", "-o", "short-iso", "-b", strings.ReplaceAll(bootID, "-", "")}
	if root := t.opts.HostRoot; root != "/" && root != "" {
		args = append(args, "-D", t.host.Path("/var/log/journal"))
	}
	return append(args, extra...)
}

// journal runs journalctl for the previous boot when the journal is
// persistent (/var/log/journal exists); extra selects the lines ("-k" for
// the kernel's).
func (t *Tracker) journal(ctx context.Context, bootID, extra string) (lastWords, bool) {
	if bootID == "" {
		return lastWords{}, false
	}
	if st, err := os.Stat(t.host.Path("/var/log/journal")); err != nil || !st.IsDir() {
		return lastWords{}, false
	}
	args := t.journalArgs(bootID, "-n", strconv.Itoa(t.opts.MaxScanLines))
	if extra != "" {
		args = append(args, extra)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := t.opts.Run(ctx, "journalctl", args...)
	if err != nil {
		t.log.Info("previous boot's journal not readable", "boot_id", bootID, "err", err)
		return lastWords{}, false
	}
	var lines []string
	for l := range strings.Lines(string(out)) {
		l = strings.TrimRight(l, "\r\n")
		// journalctl's own notes ("-- Logs begin at …", "-- No entries --").
		if l == "" || strings.HasPrefix(l, "-- ") {
			continue
		}
		lines = append(lines, clip(l))
	}
	if len(lines) == 0 {
		return lastWords{}, false
	}
	return lastWords{source: SourceJournal, format: FormatJournal, path: "journalctl " + strings.Join(args, " "), lines: tail(lines, t.opts.MaxScanLines)}, true
}

// kernLog reads the previous boot's kernel lines from the syslog files
// /var/log/kern.log and kern.log.1.
func (t *Tracker) kernLog(prevBoot, bootTime time.Time) (lastWords, bool) {
	lines, used, loc := t.syslogBefore([]string{"/var/log/kern.log.1", "/var/log/kern.log"}, prevBoot, bootTime)
	if len(lines) == 0 {
		return lastWords{}, false
	}
	return lastWords{source: SourceKernLog, format: FormatJournal, path: strings.Join(used, ","), lines: lines,
		dating: Dating{Location: loc, Ref: bootTime}}, true
}

// syslogBefore reads the lines of syslog files (oldest first) logged before
// this boot began, and after the previous one began when known: the
// previous boot's tail, at most MaxScanLines lines, and the time zone
// their timestamps are in.
func (t *Tracker) syslogBefore(names []string, prevBoot, bootTime time.Time) (kept, used []string, loc *time.Location) {
	var texts []string
	for _, name := range names {
		b, err := readTail(t.host.Path(name), maxTailBytes)
		if err != nil {
			continue
		}
		used = append(used, name)
		texts = append(texts, string(b))
	}
	if len(texts) == 0 {
		return nil, nil, nil
	}
	loc = t.syslogLocation(texts, bootTime)
	for _, text := range texts {
		keep := false
		for l := range strings.Lines(text) {
			l = strings.TrimRight(l, "\r\n")
			if l == "" {
				continue
			}
			if ts, ok := syslogTime(l, bootTime, loc); ok {
				keep = ts.Before(bootTime) && (prevBoot.IsZero() || !ts.Before(prevBoot.Add(-time.Minute)))
			}
			if keep {
				kept = append(kept, clip(l))
			}
		}
	}
	return tail(kept, t.opts.MaxScanLines), used, loc
}

// syslogLocation is the time zone classic syslog timestamps are written in:
// the host's /etc/localtime when readable; else inferred from the current
// boot's first kernel line ("[    0.000000]"), logged at the boot time;
// else UTC. (A DaemonSet need not mount /etc/localtime.)
func (t *Tracker) syslogLocation(texts []string, bootTime time.Time) *time.Location {
	if b, err := os.ReadFile(t.host.Path("/etc/localtime")); err == nil {
		if loc, err := time.LoadLocationFromTZData("host", b); err == nil {
			return loc
		}
	}
	for i := len(texts) - 1; i >= 0; i-- {
		lines := strings.Split(texts[i], "\n")
		for j := len(lines) - 1; j >= 0; j-- {
			if !strings.Contains(lines[j], "[    0.000000]") {
				continue
			}
			ts, ok := syslogTime(lines[j], bootTime, time.UTC)
			if !ok {
				continue
			}
			off := ts.Sub(bootTime).Round(15 * time.Minute)
			if off.Abs() <= 14*time.Hour && (ts.Sub(bootTime)-off).Abs() < 5*time.Minute {
				return time.FixedZone("inferred", int(off/time.Second))
			}
		}
	}
	return time.UTC
}

var pstorePart = regexp.MustCompile(`^(?:={4}[0-9.]+-[A-Z]\n)?[A-Za-z]+#\d+ Part(\d+)\n`)

// pstore reads dmesg records the kernel saved at its crash in
// /sys/fs/pstore, or that systemd-pstore moved to /var/lib/systemd/pstore
// this boot. A record's mtime is the crash time; records older than the
// previous boot are from an earlier crash and ignored.
func (t *Tracker) pstore(prevBoot time.Time) (lastWords, bool) {
	var files []string
	for _, pat := range []string{"/sys/fs/pstore/dmesg-*", "/var/lib/systemd/pstore/*/dmesg*", "/var/lib/systemd/pstore/*/*/dmesg*"} {
		m, _ := filepath.Glob(t.host.Path(pat))
		files = append(files, m...)
	}
	type rec struct {
		path  string
		part  int
		mtime time.Time
		text  string
	}
	var recs []rec
	for _, f := range files {
		st, err := os.Stat(f)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		if !prevBoot.IsZero() && st.ModTime().Before(prevBoot.Add(-time.Minute)) {
			continue
		}
		b, err := readTail(f, maxTailBytes)
		if err != nil {
			continue
		}
		r := rec{path: f, mtime: st.ModTime(), text: string(b)}
		if m := pstorePart.FindStringSubmatch(r.text); m != nil {
			r.part, _ = strconv.Atoi(m[1])
		}
		recs = append(recs, r)
	}
	if len(recs) == 0 {
		return lastWords{}, false
	}
	// Part 1 is the end of the log: older parts come first.
	slices.SortStableFunc(recs, func(a, b rec) int {
		if c := a.mtime.Compare(b.mtime); c != 0 {
			return c
		}
		return b.part - a.part
	})
	var lines, paths []string
	for _, r := range recs {
		paths = append(paths, t.hostRel(r.path))
		for l := range strings.Lines(r.text) {
			if l = strings.TrimRight(l, "\r\n"); l != "" {
				lines = append(lines, clip(l))
			}
		}
	}
	return lastWords{source: SourcePstore, format: FormatDmesg, path: strings.Join(paths, ","), lines: tail(lines, t.opts.MaxScanLines), crashDump: true}, true
}

// kdump reads the dmesg that kdump saved in the newest /var/crash/<dir>
// written since the previous boot began, and notes a vmcore there (its host
// path).
func (t *Tracker) kdump(prevBoot time.Time) (lw lastWords, vmcore string, ok bool) {
	dirs, _ := filepath.Glob(t.host.Path("/var/crash/*"))
	var best string
	var bestTime time.Time
	for _, d := range dirs {
		st, err := os.Stat(d)
		if err != nil || !st.IsDir() {
			continue
		}
		if !prevBoot.IsZero() && st.ModTime().Before(prevBoot.Add(-time.Minute)) {
			continue
		}
		if best == "" || st.ModTime().After(bestTime) {
			best, bestTime = d, st.ModTime()
		}
	}
	if best == "" {
		return lastWords{}, "", false
	}
	ents, err := os.ReadDir(best)
	if err != nil {
		return lastWords{}, "", false
	}
	lw = lastWords{source: SourceKdump, format: FormatDmesg, crashDump: true}
	for _, e := range ents {
		name := e.Name()
		switch {
		case name == "vmcore-dmesg.txt" || strings.HasPrefix(name, "dmesg"):
			b, err := readTail(filepath.Join(best, name), maxTailBytes)
			if err != nil {
				continue
			}
			lw.path = t.hostRel(filepath.Join(best, name))
			lw.lines = nil
			for l := range strings.Lines(string(b)) {
				if l = strings.TrimRight(l, "\r\n"); l != "" {
					lw.lines = append(lw.lines, clip(l))
				}
			}
			lw.lines = tail(lw.lines, t.opts.MaxScanLines)
		case name == "vmcore" || strings.HasPrefix(name, "vmcore.") || strings.HasPrefix(name, "dump."):
			vmcore = t.hostRel(filepath.Join(best, name))
		}
	}
	if lw.path == "" {
		lw.path = t.hostRel(best)
	}
	return lw, vmcore, len(lw.lines) > 0 || vmcore != ""
}

// hostRel turns a path under the host root back into the host's own path.
func (t *Tracker) hostRel(p string) string {
	rel, err := filepath.Rel(t.host.Path("/"), p)
	if err != nil {
		return p
	}
	return "/" + rel
}

// syslogTime parses the timestamp that starts a syslog line: RFC 3339
// (rsyslog's high-precision format, journalctl short-iso) or the classic
// "Jun 14 13:14:38", whose year is the one that puts it at most a day after
// ref.
func syslogTime(l string, ref time.Time, loc *time.Location) (time.Time, bool) {
	first, _, _ := strings.Cut(l, " ")
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05-0700", "2006-01-02T15:04:05.999999-0700"} {
		if ts, err := time.Parse(layout, first); err == nil {
			return ts, true
		}
	}
	if len(l) < len(time.Stamp) {
		return time.Time{}, false
	}
	ts, err := time.ParseInLocation(time.Stamp, l[:len(time.Stamp)], loc)
	if err != nil {
		return time.Time{}, false
	}
	ref = ref.In(loc)
	ts = ts.AddDate(ref.Year(), 0, 0)
	if ts.After(ref.Add(24 * time.Hour)) {
		ts = ts.AddDate(-1, 0, 0)
	}
	return ts, true
}

// readTail reads at most max bytes from the end of a file, starting at a
// line boundary.
func readTail(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	off := max(st.Size()-limit, 0)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(f, limit))
	if err != nil && !errors.Is(err, fs.ErrClosed) {
		return nil, err
	}
	if off > 0 {
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return b, nil
}

func tail(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}

func clip(l string) string {
	if len(l) <= maxLineBytes {
		return l
	}
	return l[:maxLineBytes]
}

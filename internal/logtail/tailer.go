package logtail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// fingerprintSize is how many leading bytes identify a file's content, to
// tell a truncated-and-rewritten file (copytruncate) or a reused inode from
// the file we were reading.
const fingerprintSize = 256

type fileID struct{ Dev, Ino uint64 }

// tracked is one open file. offset is committed: it ends the last complete
// line handed out; buf holds a partial line read past it.
type tracked struct {
	id      fileID
	path    string
	f       *os.File
	offset  int64
	buf     []byte
	fp      []byte
	missing int // polls since a glob last matched it
}

// Line is one complete line of a file, without its newline.
type Line struct {
	Path string
	Text []byte // valid only during the callback
}

// Tailer follows the files matching globs by polling. Files are identified by
// device and inode, so a rename keeps its reader: after rename+create the old
// file is drained through its open descriptor (writers may still append to
// it briefly) while the new one is read from its start. A file that shrank, or
// whose first bytes changed, was truncated (copytruncate) and is read again
// from its start. Positions are saved atomically in a JSON file; a restart
// resumes at the saved offset when the file's identity and first bytes match.
type Tailer struct {
	globs      []string
	posPath    string
	startAtEnd bool
	maxLine    int
	gracePolls int
	log        *slog.Logger

	files map[fileID]*tracked
	saved map[fileID]savedPos
	polls int
	dirty bool
}

// TailerConfig configures a Tailer.
type TailerConfig struct {
	Globs []string
	// Positions is the positions file ("" keeps them in memory only).
	Positions string
	// StartAtEnd skips the existing content of files found at the first
	// poll when no position was saved for them (files that appear later are
	// always read from their start).
	StartAtEnd bool
	// MaxLine bounds a line; a longer one is handed out in pieces.
	MaxLine int
	// GracePolls is how many polls a file no glob matches any more (renamed
	// away, deleted) stays open to drain late writes.
	GracePolls int
}

// NewTailer loads saved positions; a corrupt positions file is an error
// naming it (delete it to start over).
func NewTailer(cfg TailerConfig, log *slog.Logger) (*Tailer, error) {
	if cfg.MaxLine == 0 {
		cfg.MaxLine = 64 << 10
	}
	if cfg.GracePolls == 0 {
		cfg.GracePolls = 20
	}
	for _, g := range cfg.Globs {
		if _, err := filepath.Match(g, ""); err != nil {
			return nil, fmt.Errorf("log glob %q: %w", g, err)
		}
	}
	t := &Tailer{globs: cfg.Globs, posPath: cfg.Positions, startAtEnd: cfg.StartAtEnd, maxLine: cfg.MaxLine,
		gracePolls: cfg.GracePolls, log: log, files: map[fileID]*tracked{}, saved: map[fileID]savedPos{}}
	if cfg.Positions != "" {
		saved, err := loadPositions(cfg.Positions)
		if err != nil {
			return nil, err
		}
		for _, p := range saved {
			t.saved[fileID{p.Dev, p.Ino}] = p
		}
	}
	return t, nil
}

// Poll reads every matching file to its end and hands out complete lines.
func (t *Tailer) Poll(fn func(Line)) {
	first := t.polls == 0
	t.polls++
	seen := map[fileID]bool{}
	for _, path := range t.match() {
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() {
			continue
		}
		sys, ok := st.Sys().(*syscall.Stat_t)
		if !ok {
			continue
		}
		id := fileID{uint64(sys.Dev), sys.Ino}
		if seen[id] {
			continue // two paths (a symlink) to one file
		}
		seen[id] = true
		tf := t.files[id]
		if tf == nil {
			if tf = t.open(path, id, st.Size(), first); tf == nil {
				continue
			}
			t.files[id] = tf
		}
		if tf.path != path {
			t.log.Debug("log file renamed", "from", tf.path, "to", path)
			tf.path = path
		}
		tf.missing = 0
		t.read(tf, fn)
	}
	for id, tf := range t.files {
		if seen[id] {
			continue
		}
		// Renamed out of the globs or deleted: drain late writes, then let go.
		t.read(tf, fn)
		tf.missing++
		if tf.missing > t.gracePolls {
			tf.f.Close()
			delete(t.files, id)
			t.dirty = true
		}
	}
	if first {
		t.saved = nil // positions of files that are gone
	}
}

func (t *Tailer) match() []string {
	var out []string
	for _, g := range t.globs {
		m, _ := filepath.Glob(g) // patterns were checked in NewTailer
		out = append(out, m...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// open starts following a file found at path: at its saved position when
// the content still matches, else at its start (or end, on the first poll).
func (t *Tailer) open(path string, id fileID, size int64, first bool) *tracked {
	f, err := os.Open(path)
	if err != nil {
		t.log.Warn("cannot open log file", "path", path, "err", err)
		return nil
	}
	tf := &tracked{id: id, path: path, f: f}
	tf.fp = readHead(f, fingerprintSize)
	t.dirty = true
	if sp, ok := t.saved[id]; ok && sp.Offset <= size && bytes.HasPrefix(tf.fp, sp.Fingerprint) {
		tf.offset = sp.Offset
		t.log.Info("resuming log file", "path", path, "offset", sp.Offset)
		return tf
	}
	if first && t.startAtEnd {
		tf.offset = size
	}
	return tf
}

func readHead(f *os.File, n int) []byte {
	b := make([]byte, n)
	m, _ := f.ReadAt(b, 0)
	return b[:m]
}

// read detects truncation, then reads from the committed offset to EOF.
func (t *Tailer) read(tf *tracked, fn func(Line)) {
	st, err := tf.f.Stat()
	if err != nil {
		return
	}
	head := readHead(tf.f, fingerprintSize)
	pos := tf.offset + int64(len(tf.buf))
	if st.Size() < pos || !bytes.HasPrefix(head, tf.fp[:min(len(tf.fp), len(head))]) || len(head) < len(tf.fp) {
		t.log.Info("log file truncated; reading from its start", "path", tf.path, "size", st.Size(), "offset", pos)
		tf.offset, tf.buf, pos = 0, nil, 0
		t.dirty = true
	}
	tf.fp = head
	chunk := make([]byte, 64<<10)
	for pos < st.Size() {
		n, err := tf.f.ReadAt(chunk[:min(int64(len(chunk)), st.Size()-pos)], pos)
		pos += int64(n)
		tf.buf = append(tf.buf, chunk[:n]...)
		t.lines(tf, fn)
		if err != nil && !errors.Is(err, io.EOF) {
			t.log.Warn("read log file", "path", tf.path, "err", err)
			return
		}
		if n == 0 {
			break
		}
	}
}

// lines hands out the complete lines in tf.buf and commits their end.
func (t *Tailer) lines(tf *tracked, fn func(Line)) {
	for {
		i := bytes.IndexByte(tf.buf, '\n')
		if i < 0 && len(tf.buf) < t.maxLine {
			break
		}
		if i < 0 || i > t.maxLine {
			// A runaway line is handed out in pieces.
			fn(Line{Path: tf.path, Text: tf.buf[:t.maxLine]})
			tf.offset += int64(t.maxLine)
			tf.buf = tf.buf[t.maxLine:]
			t.dirty = true
			continue
		}
		fn(Line{Path: tf.path, Text: bytes.TrimSuffix(tf.buf[:i], []byte{'\r'})})
		tf.offset += int64(i + 1)
		tf.buf = tf.buf[i+1:]
		t.dirty = true
	}
	if len(tf.buf) == 0 {
		tf.buf = nil
	}
}

// Save writes the committed positions if they changed.
func (t *Tailer) Save() error {
	if t.posPath == "" || !t.dirty {
		return nil
	}
	var ps []savedPos
	for _, tf := range t.files {
		ps = append(ps, savedPos{Path: tf.path, Dev: tf.id.Dev, Ino: tf.id.Ino, Offset: tf.offset,
			Fingerprint: tf.fp[:min(len(tf.fp), int(tf.offset))]})
	}
	slices.SortFunc(ps, func(a, b savedPos) int { return cmpString(a.Path, b.Path) })
	if err := savePositions(t.posPath, ps); err != nil {
		return err
	}
	t.dirty = false
	return nil
}

// Close releases the open files.
func (t *Tailer) Close() {
	for _, tf := range t.files {
		tf.f.Close()
	}
	t.files = map[fileID]*tracked{}
}

func cmpString(a, b string) int {
	if a < b {
		return -1
	}
	if a > b {
		return 1
	}
	return 0
}

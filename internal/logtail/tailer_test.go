package logtail

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type collected struct{ lines []string }

func (c *collected) add(l Line) { c.lines = append(c.lines, filepath.Base(l.Path)+":"+string(l.Text)) }

func (c *collected) take() string {
	s := strings.Join(c.lines, "|")
	c.lines = nil
	return s
}

func newTestTailer(t *testing.T, dir string, cfg TailerConfig) *Tailer {
	t.Helper()
	if cfg.Globs == nil {
		cfg.Globs = []string{filepath.Join(dir, "*.log")}
	}
	tl, err := NewTailer(cfg, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tl.Close)
	return tl
}

func appendTo(t *testing.T, f *os.File, s string) {
	t.Helper()
	if _, err := f.WriteString(s); err != nil {
		t.Fatal(err)
	}
}

func create(t *testing.T, path string) *os.File {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func TestPartialLinesWaitForTheirNewline(t *testing.T) {
	dir := t.TempDir()
	f := create(t, filepath.Join(dir, "app.log"))
	tl := newTestTailer(t, dir, TailerConfig{})
	var c collected
	appendTo(t, f, "one\ntw")
	tl.Poll(c.add)
	if got := c.take(); got != "app.log:one" {
		t.Fatalf("got %q", got)
	}
	appendTo(t, f, "o\r\nthree\n")
	tl.Poll(c.add)
	if got := c.take(); got != "app.log:two|app.log:three" {
		t.Fatalf("got %q", got)
	}
}

// TestRenameCreate is logrotate's create mode and kubelet's rotation: the
// file is renamed away, the writer appends a little more to the old file,
// then writes to a new file at the old path. Nothing is lost or repeated.
func TestRenameCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	old := create(t, path)
	tl := newTestTailer(t, dir, TailerConfig{GracePolls: 2})
	var c collected
	appendTo(t, old, "1\n2\n")
	tl.Poll(c.add)
	appendTo(t, old, "3\n")
	if err := os.Rename(path, filepath.Join(dir, "app.log.1")); err != nil {
		t.Fatal(err)
	}
	appendTo(t, old, "4\n") // the writer has not reopened yet
	nf := create(t, path)
	appendTo(t, nf, "5\n")
	tl.Poll(c.add)
	appendTo(t, old, "late\n") // still within the grace polls
	appendTo(t, nf, "6\n")
	tl.Poll(c.add)
	// Order across the two files is not defined; each line arrives once.
	got := strings.Split(c.take(), "|")
	slices.Sort(got)
	if want := "app.log:1|app.log:2|app.log:3|app.log:4|app.log:5|app.log:6|app.log:late"; strings.Join(got, "|") != want {
		t.Fatalf("got %v\nwant %s", got, want)
	}
	for range 3 {
		tl.Poll(c.add)
	}
	if len(tl.files) != 1 {
		t.Fatalf("rotated file still open after the grace polls: %d files", len(tl.files))
	}
}

func TestCopyTruncate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	f := create(t, path)
	tl := newTestTailer(t, dir, TailerConfig{})
	var c collected
	appendTo(t, f, "a1\na2\na3\n")
	tl.Poll(c.add)
	if got := c.take(); got != "app.log:a1|app.log:a2|app.log:a3" {
		t.Fatalf("got %q", got)
	}
	// logrotate copytruncate: copy, then truncate in place; the writer (O_APPEND) goes on.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, f, "b1\n")
	tl.Poll(c.add)
	if got := c.take(); got != "app.log:b1" {
		t.Fatalf("after truncate (shorter): %q", got)
	}
	// Truncated and rewritten past the old offset between two polls: the
	// first bytes changed, so it is read from its start again.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	appendTo(t, f, "c1-longer-than-before\nc2\n")
	tl.Poll(c.add)
	if got := c.take(); got != "app.log:c1-longer-than-before|app.log:c2" {
		t.Fatalf("after truncate (longer): %q", got)
	}
}

func TestRestartResumesAtSavedPosition(t *testing.T) {
	dir := t.TempDir()
	pos := filepath.Join(dir, "state", "positions.json")
	f := create(t, filepath.Join(dir, "app.log"))
	g := create(t, filepath.Join(dir, "other.log"))
	appendTo(t, f, "old\n")
	appendTo(t, g, "x1\n")

	tl := newTestTailer(t, dir, TailerConfig{Positions: pos, StartAtEnd: true})
	var c collected
	tl.Poll(c.add)
	if got := c.take(); got != "" {
		t.Fatalf("first start read existing content: %q", got)
	}
	appendTo(t, f, "1\n2\npart")
	tl.Poll(c.add)
	if err := tl.Save(); err != nil {
		t.Fatal(err)
	}
	tl.Close()
	if got := c.take(); got != "app.log:1|app.log:2" {
		t.Fatalf("got %q", got)
	}
	// While stopped: the partial line completes, more lines arrive, and
	// other.log is replaced by a new file (new inode).
	appendTo(t, f, "ial\n3\n")
	if err := os.Remove(filepath.Join(dir, "other.log")); err != nil {
		t.Fatal(err)
	}
	g2 := create(t, filepath.Join(dir, "other.log"))
	appendTo(t, g2, "y1\n")

	tl2 := newTestTailer(t, dir, TailerConfig{Positions: pos, StartAtEnd: true})
	tl2.Poll(c.add)
	got := c.take()
	if got != "app.log:partial|app.log:3" {
		t.Fatalf("after restart got %q; want the partial line and 3 (and other.log, a new file at first poll, skipped to its end)", got)
	}
	// A corrupt positions file is an error naming it.
	if err := os.WriteFile(pos, []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := NewTailer(TailerConfig{Positions: pos}, quiet()); err == nil || !strings.Contains(err.Error(), pos) {
		t.Fatalf("corrupt positions: %v", err)
	}
}

func TestGlobPicksUpNewFiles(t *testing.T) {
	dir := t.TempDir()
	tl := newTestTailer(t, dir, TailerConfig{StartAtEnd: true})
	var c collected
	tl.Poll(c.add)
	f := create(t, filepath.Join(dir, "new.log"))
	appendTo(t, f, "hello\n")
	create(t, filepath.Join(dir, "ignored.txt"))
	tl.Poll(c.add)
	if got := c.take(); got != "new.log:hello" {
		t.Fatalf("new file: %q (a file appearing after start is read from its start)", got)
	}
	// A symlink to a tracked file is not read twice.
	if err := os.Symlink(filepath.Join(dir, "new.log"), filepath.Join(dir, "link.log")); err != nil {
		t.Fatal(err)
	}
	appendTo(t, f, "again\n")
	tl.Poll(c.add)
	if got := c.take(); strings.Count(got, "again") != 1 {
		t.Fatalf("through a symlink: %q", got)
	}
}

func TestLongLineInPieces(t *testing.T) {
	dir := t.TempDir()
	f := create(t, filepath.Join(dir, "app.log"))
	tl := newTestTailer(t, dir, TailerConfig{MaxLine: 10})
	var c collected
	appendTo(t, f, strings.Repeat("x", 25)+"\nok\n")
	tl.Poll(c.add)
	if got := c.take(); got != fmt.Sprintf("app.log:%s|app.log:%s|app.log:xxxxx|app.log:ok", strings.Repeat("x", 10), strings.Repeat("x", 10)) {
		t.Fatalf("got %q", got)
	}
}

func TestBadGlob(t *testing.T) {
	if _, err := NewTailer(TailerConfig{Globs: []string{"/var/log/[.log"}}, quiet()); err == nil || !strings.Contains(err.Error(), `"/var/log/[.log"`) {
		t.Fatalf("err = %v", err)
	}
}

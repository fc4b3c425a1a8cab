// Package browsertest runs the distribution's Chromium headless against a
// page, for tests that must see what a person's browser sees: the DOM it
// builds (--dump-dom) and a screenshot (--screenshot). A test skips, saying
// how to get Chromium, when it is not installed; .ci/run installs it.
package browsertest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Chromium returns the browser binary, or skips the test.
func Chromium(tb testing.TB) string {
	tb.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	tb.Skip("chromium not found: install it (apt-get install chromium; .ci/run does) to test the pages in a real browser")
	return ""
}

// flags are the headless flags for a clean, offline, unprivileged run.
func flags(tb testing.TB) []string {
	return []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
		"--disable-sync", "--no-first-run", "--disable-extensions", "--hide-scrollbars", "--user-data-dir=" + tb.TempDir()}
}

func run(tb testing.TB, args ...string) []byte {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, Chromium(tb), append(flags(tb), args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		tb.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.Bytes()
}

// DOM loads url and returns the document Chromium built (after parsing,
// styles and any scripts: what a person's browser holds).
func DOM(tb testing.TB, url string) string {
	tb.Helper()
	return string(run(tb, "--dump-dom", url))
}

// Screenshot loads url in a window of width×height and returns the PNG.
func Screenshot(tb testing.TB, url string, width, height int) []byte {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "shot.png")
	run(tb, fmt.Sprintf("--window-size=%d,%d", width, height), "--screenshot="+path, url)
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("chromium wrote no screenshot: %v", err)
	}
	if !bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")) {
		tb.Fatalf("screenshot is not a PNG (%d bytes)", len(b))
	}
	return b
}

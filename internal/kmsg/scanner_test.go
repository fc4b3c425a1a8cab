package kmsg

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func scanAll(t *testing.T, r io.Reader, o Options) ([]Line, *Scanner) {
	t.Helper()
	sc := NewScanner(r, o)
	var out []Line
	for sc.Scan() {
		out = append(out, sc.Line())
	}
	return out, sc
}

func texts(ls []Line) []string {
	var out []string
	for _, l := range ls {
		out = append(out, l.Text)
	}
	return out
}

func TestScannerFormats(t *testing.T) {
	tests := []struct {
		name, in string
		format   Format
		want     []string
		stats    Stats
	}{
		{"kmsg skips continuation lines", "6,1,1,-;a\n SUBSYSTEM=net\n DEVICE=+net:eth0\n6,2,2,-;b\n", FormatKmsg,
			[]string{"a", "b"}, Stats{Lines: 4, Skipped: 2}},
		{"kmsg malformed lines pass through", "6,1,1,-;a\ngarbage here\n", FormatKmsg,
			[]string{"a", "garbage here"}, Stats{Lines: 2, Malformed: 1}},
		{"journal keeps kernel lines", "Jun 14 13:14:38 h kernel: a\nJun 14 13:14:38 h app[1]: b\n-- Reboot --\nJun 14 13:15:06 h kernel: c\n", FormatJournal,
			[]string{"a", "", "c"}, Stats{Lines: 4, Skipped: 1}},
		{"journal unparsable lines pass through", "Jun 14 13:14:38 h kernel: a\npasted without prefix\n", FormatJournal,
			[]string{"a", "pasted without prefix"}, Stats{Lines: 2, Malformed: 1}},
		{"crlf and no final newline", "[ 1.0] a\r\n\r\n[ 2.0] b", FormatDmesg, []string{"a", "b"}, Stats{Lines: 3, Skipped: 1}},
		{"auto detects", "[ 1.0] a\n[ 2.0] b\n", FormatAuto, []string{"a", "b"}, Stats{Lines: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, chunky := range []bool{false, true} {
				var r io.Reader = strings.NewReader(tc.in)
				if chunky {
					r = iotest.OneByteReader(r)
				}
				lines, sc := scanAll(t, r, Options{Format: tc.format, Year: 2020, Location: time.UTC})
				if sc.Err() != nil {
					t.Fatal(sc.Err())
				}
				if got := texts(lines); strings.Join(got, "|") != strings.Join(tc.want, "|") {
					t.Fatalf("one byte at a time %v: got %q, want %q", chunky, got, tc.want)
				}
				if sc.Stats() != tc.stats {
					t.Fatalf("stats %+v, want %+v", sc.Stats(), tc.stats)
				}
			}
		})
	}
}

func TestScannerLongLine(t *testing.T) {
	long := strings.Repeat("x", blockSize*2+100)
	in := "[ 1.0] before\n[ 2.0] " + long + "\n[ 3.0] after\n"
	lines, sc := scanAll(t, strings.NewReader(in), Options{Format: FormatDmesg})
	if len(lines) != 3 || lines[0].Text != "before" || lines[2].Text != "after" {
		t.Fatalf("got %d lines: %.40q", len(lines), texts(lines))
	}
	if n := len(lines[1].Text); n > blockSize || n < blockSize-16 {
		t.Fatalf("long line cut to %d bytes, want about %d", n, blockSize)
	}
	if sc.Stats().Truncated != 1 {
		t.Fatalf("stats %+v, want one truncated", sc.Stats())
	}
}

func TestScannerReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader("[ 1.0] a\n[ 2.0] b"), iotest.ErrReader(boom))
	lines, sc := scanAll(t, r, Options{Format: FormatDmesg})
	if !errors.Is(sc.Err(), boom) {
		t.Fatalf("Err = %v, want %v", sc.Err(), boom)
	}
	// Nothing read before the error is lost.
	if got := texts(lines); len(got) != 2 || got[1] != "b" {
		t.Fatalf("got %q", got)
	}
}

func TestScannerBootTime(t *testing.T) {
	boot := time.Date(2020, 6, 14, 13, 0, 0, 0, time.UTC)
	lines, _ := scanAll(t, strings.NewReader("6,5,2000000,-;x\n"), Options{Format: FormatKmsg, BootTime: boot})
	if len(lines) != 1 || !lines[0].Time.Equal(boot.Add(2*time.Second)) || lines[0].Seq != 5 {
		t.Fatalf("got %+v", lines)
	}
}

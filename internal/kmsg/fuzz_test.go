package kmsg

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// seeds are the lines and whole files of the kernel fixtures.
func seeds(f *testing.F) {
	files, _ := filepath.Glob("../kernel/testdata/*")
	for _, name := range files {
		if st, err := os.Stat(name); err != nil || st.IsDir() {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
		for line := range strings.Lines(string(b)) {
			f.Add(strings.TrimRight(line, "\n"))
		}
	}
	f.Add("6,1,1,-;\\x")
	f.Add("<7>[ 99999999999999999999.1] x")
	f.Add("2020-02-30T25:61:61+24:00 h kernel: x")
}

// FuzzParsers: no input crashes a parser, and what they return is sane.
func FuzzParsers(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		if l, ok := parseKmsgRecord(s); ok {
			if l.Mono < 0 || l.Level < 0 || l.Level > 7 || l.Facility < 0 {
				t.Fatalf("kmsg %q: %+v", s, l)
			}
			if !strings.Contains(s, `\x`) && !strings.HasSuffix(s, l.Text) {
				t.Fatalf("kmsg %q: text %q is not the message", s, l.Text)
			}
		}
		o := &Options{Location: time.UTC, BootTime: time.Unix(1e9, 0)}
		if l := parseDmesgLine(s, o); l.Mono < -1 || !strings.Contains(s, l.Text) {
			t.Fatalf("dmesg %q: %+v", s, l)
		}
		st := &journalState{year: 2020}
		if l, kernel, ok := parseJournalLine(s, o, st); ok && kernel && !l.Reboot && !strings.Contains(s, l.Text) {
			t.Fatalf("journal %q: text %q", s, l.Text)
		}
	})
}

// FuzzScanner: every format reads any input to the end without crashing,
// and gives back no more lines than the input has.
func FuzzScanner(f *testing.F) {
	seeds(f)
	f.Fuzz(func(t *testing.T, s string) {
		for _, format := range []Format{FormatAuto, FormatKmsg, FormatDmesg, FormatJournal} {
			sc := NewScanner(strings.NewReader(s), Options{Format: format, Year: 2020})
			n := 0
			for sc.Scan() {
				n++
				if l := sc.Line(); len(l.Text) > len(s) {
					t.Fatalf("line longer than the input")
				}
			}
			if sc.Err() != nil {
				t.Fatal(sc.Err())
			}
			if max := strings.Count(s, "\n") + 1; n > max {
				t.Fatalf("%s: %d lines from %d", format, n, max)
			}
			_ = utf8.ValidString(s)
		}
	})
}

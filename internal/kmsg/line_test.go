package kmsg

import (
	"strings"
	"testing"
	"time"
)

func TestParseKmsgRecord(t *testing.T) {
	tests := []struct {
		name, in string
		ok       bool
		want     Line
	}{
		{"plain", "6,1234,5678901,-;eth0: link up", true,
			Line{Seq: 1234, Mono: 5678901 * time.Microsecond, Text: "eth0: link up", Level: 6}},
		{"continuation flag", "4,7,100,c;part", true, Line{Seq: 7, Mono: 100 * time.Microsecond, Text: "part", Level: 4}},
		{"caller field", "4,88,2000,-,caller=T512;INFO: task x:1 blocked", true,
			Line{Seq: 88, Mono: 2 * time.Millisecond, Text: "INFO: task x:1 blocked", Level: 4}},
		{"user facility", "14,9,1,-;systemd[1]: hello", true, Line{Seq: 9, Mono: time.Microsecond, Text: "systemd[1]: hello", Level: 6, Facility: 1}},
		{"escapes", `6,1,1,-;rcu: \x093-...: tab and back\x5cslash`, true,
			Line{Seq: 1, Mono: time.Microsecond, Text: "rcu: \t3-...: tab and back\\slash", Level: 6}},
		{"bad escape kept", `6,1,1,-;a \xZZ b`, true, Line{Seq: 1, Mono: time.Microsecond, Text: `a \xZZ b`, Level: 6}},
		{"empty message", "6,1,1,-;", true, Line{Seq: 1, Mono: time.Microsecond, Level: 6}},
		{"no semicolon", "6,1,1,-", false, Line{}},
		{"letters in prio", "x,1,1,-;m", false, Line{}},
		{"missing usec", "6,1;m", false, Line{}},
		{"prio too big", "9999,1,1,-;m", false, Line{}},
		{"seq overflow", "6,99999999999999999999999,1,-;m", false, Line{}},
		{"usec overflow", "6,1,99999999999999999,-;m", false, Line{}},
		{"empty field", "6,,1,-;m", false, Line{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseKmsgRecord(tc.in)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if ok && got != tc.want {
				t.Fatalf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseDmesgLine(t *testing.T) {
	boot := time.Date(2020, 6, 14, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name, in string
		boot     time.Time
		mono     time.Duration
		time     time.Time
		text     string
		level    int8
	}{
		{"timestamp", "[  123.456789] eth0: link up", time.Time{}, 123456789 * time.Microsecond, time.Time{}, "eth0: link up", -1},
		{"anchored", "[    1.5] x", boot, 1500 * time.Millisecond, boot.Add(1500 * time.Millisecond), "x", -1},
		{"level prefix (dmesg -r, pstore)", "<4>[ 8462.131201] general protection fault", time.Time{}, 8462131201 * time.Microsecond, time.Time{}, "general protection fault", 4},
		{"caller id", "[ 1843.112290] [  T512] INFO: task", time.Time{}, 1843112290 * time.Microsecond, time.Time{}, "INFO: task", -1},
		{"cpu caller id", "[    5.0] [    C3] NMI backtrace", time.Time{}, 5 * time.Second, time.Time{}, "NMI backtrace", -1},
		{"human time (dmesg -T)", "[Sun Jun 14 13:14:38 2020] kernel BUG at x:1!", time.Time{}, -1, time.Date(2020, 6, 14, 13, 14, 38, 0, time.UTC), "kernel BUG at x:1!", -1},
		{"no timestamp", "                 active_file:147", time.Time{}, -1, time.Time{}, "                 active_file:147", -1},
		{"pstore header", "Panic#1 Part1", time.Time{}, -1, time.Time{}, "Panic#1 Part1", -1},
		{"broken bracket", "[  12.34 x", time.Time{}, -1, time.Time{}, "[  12.34 x", -1},
		{"bracket text kept", "[drm] Initialized", time.Time{}, -1, time.Time{}, "[drm] Initialized", -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := parseDmesgLine(tc.in, &Options{BootTime: tc.boot, Location: time.UTC})
			if got.Mono != tc.mono || !got.Time.Equal(tc.time) || got.Text != tc.text || got.Level != tc.level {
				t.Fatalf("got mono %v time %v text %q level %d", got.Mono, got.Time, got.Text, got.Level)
			}
		})
	}
}

func TestParseJournalLine(t *testing.T) {
	cst := time.FixedZone("", 8*3600)
	tests := []struct {
		name, in   string
		ok, kernel bool
		reboot     bool
		time       time.Time
		mono       time.Duration
		text       string
	}{
		{"short", "Jun 14 13:14:38 host-172-21-128-138 kernel: kernel BUG at x:1!", true, true, false,
			time.Date(2020, 6, 14, 13, 14, 38, 0, time.UTC), -1, "kernel BUG at x:1!"},
		{"space padded day", "Jun  4 01:02:03 h kernel: x", true, true, false, time.Date(2020, 6, 4, 1, 2, 3, 0, time.UTC), -1, "x"},
		{"short-precise", "Jun 14 13:14:38.123456 h kernel: x", true, true, false,
			time.Date(2020, 6, 14, 13, 14, 38, 123456000, time.UTC), -1, "x"},
		{"kern.log with printk time", "Jun 16 09:38:49 h kernel: [3021344.210451] INFO: task", true, true, false,
			time.Date(2020, 6, 16, 9, 38, 49, 0, time.UTC), 3021344210451 * time.Microsecond, "INFO: task"},
		{"short-iso", "2020-06-14T13:14:38+0800 h kernel: x", true, true, false, time.Date(2020, 6, 14, 13, 14, 38, 0, cst), -1, "x"},
		{"short-iso colon zone", "2020-06-14T13:14:38+08:00 h kernel: x", true, true, false, time.Date(2020, 6, 14, 13, 14, 38, 0, cst), -1, "x"},
		{"short-iso-precise UTC", "2024-05-20T11:02:11.412301Z h kernel: x", true, true, false,
			time.Date(2024, 5, 20, 11, 2, 11, 412301000, time.UTC), -1, "x"},
		{"other program", "Jun 14 13:15:06 h systemd-journald[623]: Runtime journal", true, false, false, time.Time{}, -1, ""},
		{"reboot", "-- Reboot --", true, true, true, time.Time{}, -1, ""},
		{"boot id (newer journalctl)", "-- Boot 9f0e1c2d3b4a --", true, true, true, time.Time{}, -1, ""},
		{"note", "-- Logs begin at Thu 2020-06-11 10:58:02 CST. --", true, false, false, time.Time{}, -1, ""},
		{"garbage", "hello world", false, false, false, time.Time{}, -1, ""},
		{"bad month", "Jux 14 13:14:38 h kernel: x", false, false, false, time.Time{}, -1, ""},
		{"bad hour", "Jun 14 33:14:38 h kernel: x", false, false, false, time.Time{}, -1, ""},
		{"bad iso zone", "2020-06-14T13:14:38+99:00 h kernel: x", false, false, false, time.Time{}, -1, ""},
		{"no host", "Jun 14 13:14:38 kernel:", false, false, false, time.Time{}, -1, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st := &journalState{year: 2020}
			l, kernel, ok := parseJournalLine(tc.in, &Options{Location: time.UTC}, st)
			if ok != tc.ok || kernel != tc.kernel || l.Reboot != tc.reboot {
				t.Fatalf("ok %v kernel %v reboot %v", ok, kernel, l.Reboot)
			}
			if !ok || !kernel || tc.reboot {
				return
			}
			if !l.Time.Equal(tc.time) || l.Mono != tc.mono || l.Text != tc.text {
				t.Fatalf("got time %v mono %v text %q", l.Time, l.Mono, l.Text)
			}
		})
	}
}

func TestJournalYearRollover(t *testing.T) {
	in := "Dec 31 23:59:59 h kernel: a\nJan  1 00:00:01 h kernel: b\n"
	sc := NewScanner(strings.NewReader(in), Options{Format: FormatJournal, Year: 2019, Location: time.UTC})
	var years []int
	for sc.Scan() {
		years = append(years, sc.Line().Time.Year())
	}
	if len(years) != 2 || years[0] != 2019 || years[1] != 2020 {
		t.Fatalf("years %v, want [2019 2020]", years)
	}
}

func TestDetect(t *testing.T) {
	tests := []struct {
		name, in string
		want     Format
	}{
		{"kmsg", "6,1,1,-;a\n SUBSYSTEM=x\n6,2,2,-;b\n", FormatKmsg},
		{"dmesg", "[    0.000000] Linux version\n[    0.1] x\n", FormatDmesg},
		{"dmesg -T", "[Sun Jun 14 13:14:38 2020] x\n", FormatDmesg},
		{"pstore", "Oops#1 Part1\n<4>[ 1.0] x\n<4>[ 1.1] y\n", FormatDmesg},
		{"journal", "-- Logs begin at x. --\nJun 14 13:14:38 h kernel: a\nJun 14 13:14:38 h systemd[1]: b\n", FormatJournal},
		{"journal iso", "2024-03-02T04:11:52+0800 node-7 kernel: a\n", FormatJournal},
		{"plain text", "kernel BUG at fs.h:1!\ninvalid opcode: 0000 [#1] SMP\n", FormatDmesg},
		{"empty", "", FormatDmesg},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Detect(tc.in); got != tc.want {
				t.Fatalf("Detect = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseFormat(t *testing.T) {
	for _, s := range []string{"", "auto", "kmsg", "dmesg", "journal"} {
		if _, err := ParseFormat(s); err != nil {
			t.Errorf("ParseFormat(%q): %v", s, err)
		}
	}
	if _, err := ParseFormat("syslog"); err == nil || !strings.Contains(err.Error(), `"syslog"`) {
		t.Errorf("ParseFormat(syslog) = %v, want an error naming it", err)
	}
}

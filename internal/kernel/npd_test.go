package kernel

import (
	"flag"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/kmsg"
)

var updateDocs = flag.Bool("update-docs", false, "rewrite the NPD comparison table in docs/kernel.md")

// npdRule is one rule of node-problem-detector's default kernel monitor,
// config/kernel-monitor.json of kubernetes/node-problem-detector (commit
// 06c4b903acbdf4739f12326d183c142766c86f8e, Apache-2.0): its reason and
// pattern, quoted as data to compare with.
type npdRule struct {
	reason, pattern string
	permanent       bool
}

var npdRules = []npdRule{
	{"OOMKilling", `Killed process \d+ (.+) total-vm:\d+kB, anon-rss:\d+kB, file-rss:\d+kB.*`, false},
	{"TaskHung", `task [\S ]+:\w+ blocked for more than \w+ seconds\.`, false},
	{"UnregisterNetDevice", `unregister_netdevice: waiting for \w+ to become free. Usage count = \d+`, false},
	{"KernelOops", `BUG: unable to handle kernel NULL pointer dereference at .*`, false},
	{"KernelOops", `divide error: 0000 \[#\d+\] SMP`, false},
	{"Ext4Error", `EXT4-fs error .*`, false},
	{"Ext4Warning", `EXT4-fs warning .*`, false},
	{"IOError", `Buffer I/O error .*`, false},
	{"XfsHasShutdown", `XFS .* Shutting down filesystem.?`, true},
	{"MemoryReadError", `CE memory read error .*`, false},
	{"DockerHung", `task docker:\w+ blocked for more than \w+ seconds\.`, true},
	{"FilesystemIsReadOnly", `Remounting filesystem read-only`, true},
}

// npdMonitor does what NPD's kmsg log monitor does with those rules: every
// record's message (trimmed; NPD's kmsg watcher does not look at the
// facility) goes into a buffer of the last 10 lines, and a rule matches when
// its pattern matches at the end of the buffer joined with newlines
// (pkg/systemlogmonitor/log_buffer.go: the pattern plus `\z`).
type npdMonitor struct {
	rules []*regexp.Regexp
	buf   []string
}

func newNPDMonitor(tb testing.TB) *npdMonitor {
	m := &npdMonitor{}
	for _, r := range npdRules {
		re, err := regexp.Compile(r.pattern + `\z`)
		if err != nil {
			tb.Fatal(err)
		}
		m.rules = append(m.rules, re)
	}
	return m
}

// feed returns the reasons of the rules the line makes match.
func (m *npdMonitor) feed(msg string) []string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return nil
	}
	m.buf = append(m.buf, msg)
	if len(m.buf) > 10 {
		m.buf = m.buf[1:]
	}
	joined := strings.Join(m.buf, "\n")
	var out []string
	for i, re := range m.rules {
		if re.MatchString(joined) {
			out = append(out, npdRules[i].reason)
		}
	}
	return out
}

func npdScan(tb testing.TB, lines []kmsg.Line) map[string]int {
	m := newNPDMonitor(tb)
	got := map[string]int{}
	for _, l := range lines {
		if l.Reboot {
			continue
		}
		for _, r := range m.feed(l.Text) {
			got[r]++
		}
	}
	return got
}

// npdWant is what NPD's default rules report on each fixture; fixtures not
// listed give nothing.
var npdWant = map[string]map[string]int{
	"k44-null-deref.dmesg":            {"KernelOops": 1},
	"k44-hung-task.kern.log":          {"TaskHung": 2},
	"k6-hung-task.dmesg":              {"TaskHung": 1},
	"k613-hung-task.dmesg":            {"TaskHung": 1},
	"k44-oom-global.dmesg":            {"OOMKilling": 1},
	"k44-oom-memcg.dmesg":             {"OOMKilling": 1},
	"k515-oom-memcg-systemd.kmsg":     {"OOMKilling": 1},
	"k54-oom-global.dmesg":            {"OOMKilling": 1},
	"k61-oom-memcg-v2-cgroupfs.dmesg": {"OOMKilling": 1},
	// NPD counts each kill of a memory.oom.group as an OOM.
	"k61-oom-group.kmsg":       {"OOMKilling": 3},
	"k44-netdevice.dmesg":      {"UnregisterNetDevice": 8},
	"k6-netdevice.journal":     {"UnregisterNetDevice": 3},
	"k44-ext4.dmesg":           {"Ext4Error": 3, "FilesystemIsReadOnly": 1},
	"k613-ext4.dmesg":          {"Ext4Error": 2, "FilesystemIsReadOnly": 1},
	"k44-io-error.dmesg":       {"IOError": 1},
	"k6-io-error.dmesg":        {"IOError": 1},
	"k44-nvme.dmesg":           {"IOError": 1},
	"k44-xfs-shutdown.dmesg":   {"XfsHasShutdown": 1},
	"k613-xfs-shutdown.dmesg":  {"XfsHasShutdown": 1},
	"k515-mce-corrected.dmesg": {"MemoryReadError": 3},
	// NPD's kmsg watcher reads user space's records too: a test tool's
	// "Killed process" line is an OOM to it.
	"negative-user-kmsg.kmsg":        {"OOMKilling": 1},
	"negative-4.4.journal":           {},
	"negative-boot-5.15.dmesg":       {},
	"negative-warnings.dmesg":        {},
	"negative-user-kmsg.dmesg":       {},
	"negative-userspace-oom.dmesg":   {},
	"negative-userspace-oom.journal": {},
}

// TestNPDComparison runs NPD's default kernel-monitor rules over every
// fixture, checks what they report, and keeps the table in docs/kernel.md
// in step (go test ./internal/kernel -run NPD -update-docs rewrites it).
func TestNPDComparison(t *testing.T) {
	m := NewMatcher(DefaultPack(), Options{})
	var rows []string
	var positive, negative, npdPositive, npdNegative int
	for _, tc := range fixtureCases {
		lines := readFixture(t, tc.file)
		got := npdScan(t, lines)
		want := npdWant[tc.file]
		if want == nil {
			want = map[string]int{}
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: NPD reports %v, want %v", tc.file, got, want)
		}
		ours := map[string]int{}
		for _, f := range m.Scan(lines) {
			ours[f.Type]++
		}
		if len(tc.want) > 0 {
			positive++
			if len(got) > 0 {
				npdPositive++
			}
		} else {
			negative++
			if len(got) > 0 {
				npdNegative++
			}
		}
		rows = append(rows, fmt.Sprintf("| `%s` | %s | %s |", tc.file, counts(ours), counts(got)))
	}
	table := fmt.Sprintf("Of %d fixtures with kernel reports, aftershock reports on all, NPD's defaults on %d; "+
		"of %d near misses, aftershock reports on none, NPD on %d.\n\n", positive, npdPositive, negative, npdNegative) +
		"| fixture | aftershock | NPD default rules |\n|---|---|---|\n" + strings.Join(rows, "\n") + "\n"
	const begin, end = "<!-- npd-table begin -->\n", "<!-- npd-table end -->"
	doc, err := os.ReadFile("../../docs/kernel.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	i, j := strings.Index(s, begin), strings.Index(s, end)
	if i < 0 || j < i {
		t.Fatalf("docs/kernel.md has no %q … %q block", begin, end)
	}
	if s[i+len(begin):j] == table {
		return
	}
	if *updateDocs {
		if err := os.WriteFile("../../docs/kernel.md", []byte(s[:i+len(begin)]+table+s[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("the NPD table in docs/kernel.md is stale; run go test ./internal/kernel -run NPD -update-docs; want:\n%s", table)
}

// counts renders {kernel.bug: 1, kernel.panic: 2} as "kernel.bug, kernel.panic ×2".
func counts(m map[string]int) string {
	if len(m) == 0 {
		return "—"
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if m[k] > 1 {
			out = append(out, fmt.Sprintf("%s ×%d", k, m[k]))
		} else {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

// TestNPDMonitor checks the emulation on lines whose NPD outcome is known
// from NPD's own semantics: a pattern must match at the end of the buffer.
func TestNPDMonitor(t *testing.T) {
	m := newNPDMonitor(t)
	if got := m.feed("EXT4-fs (sda1): Remounting filesystem read-only"); !slices.Equal(got, []string{"FilesystemIsReadOnly"}) {
		t.Fatalf("remount: %v", got)
	}
	if got := m.feed("EXT4-fs (sda1): Remounting filesystem read-only, or not"); len(got) != 0 {
		t.Fatalf("text after the pattern: %v", got)
	}
	if got := m.feed("  INFO: task docker:1103 blocked for more than 120 seconds.  "); !slices.Equal(got, []string{"TaskHung", "DockerHung"}) {
		t.Fatalf("docker hung: %v", got)
	}
}

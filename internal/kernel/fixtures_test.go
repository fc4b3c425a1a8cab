package kernel

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kmsg"
)

// want describes one expected finding; zero fields are not checked.
type want struct {
	typ        string
	sig        string
	summary    string // substring of the summary
	file       string
	line       int
	comm       string
	pid        int
	release    string
	tainted    string
	device     string
	count      int
	firstFrame string
	reason     string
	op         string
	driver     string
	oom        *event.OOM // the OOM fields to check; Lines and Meminfo are ignored
}

// fixtureCase is one file of testdata, where its wording comes from (the
// kernel source file and version of each printk, or the report it was taken
// from), and the findings it must give, in time order.
type fixtureCase struct {
	file string
	src  string
	want []want
}

// fixtureCases are every file in testdata: the live watcher test feeds
// the same files through a fake kmsg device.
var fixtureCases = slices.Concat(bugCases, lockupCases, oomCases, storageNetCases, hardwareCases, negativeCases)

func readFixture(tb testing.TB, name string) []kmsg.Line {
	tb.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	sc := kmsg.NewScanner(f, kmsg.Options{Year: 2020, Location: time.UTC})
	var lines []kmsg.Line
	for sc.Scan() {
		lines = append(lines, sc.Line())
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	if st := sc.Stats(); st.Malformed > 0 {
		tb.Fatalf("%s: %d malformed lines in a fixture", name, st.Malformed)
	}
	return lines
}

func TestFixtures(t *testing.T) {
	m := NewMatcher(DefaultPack(), Options{})
	for _, tc := range fixtureCases {
		t.Run(tc.file, func(t *testing.T) {
			got := m.Scan(readFixture(t, tc.file))
			checkFindings(t, got, tc.want)
		})
	}
}

// TestFixturesCoverEveryClass keeps the fixture set honest: every file has
// expectations, and every kernel event type appears in both a 4.4-era and a
// 5.x/6.x fixture.
func TestFixturesCoverEveryClass(t *testing.T) {
	files, _ := filepath.Glob("testdata/*")
	listed := map[string]bool{}
	old, recent := map[string]bool{}, map[string]bool{}
	for _, tc := range fixtureCases {
		listed[tc.file] = true
		for _, w := range tc.want {
			if strings.HasPrefix(tc.file, "k44-") {
				old[w.typ] = true
			} else {
				recent[w.typ] = true
			}
		}
	}
	for _, f := range files {
		if st, _ := os.Stat(f); st.IsDir() {
			continue
		}
		if !listed[filepath.Base(f)] {
			t.Errorf("testdata/%s has no entry in fixtureCases", filepath.Base(f))
		}
	}
	cite := regexp.MustCompile(`\bv[2-6]\.\d+(?:\.\d+)?\b`)
	arm64 := map[string]bool{}
	for _, tc := range fixtureCases {
		if !cite.MatchString(tc.src) {
			t.Errorf("testdata/%s: src %q cites no kernel version (vN.M)", tc.file, tc.src)
		}
		if strings.HasPrefix(tc.file, "negative-") != (len(tc.want) == 0) {
			t.Errorf("testdata/%s: negative fixtures, and only they, expect nothing", tc.file)
		}
		if strings.Contains(tc.file, "arm64") {
			for _, w := range tc.want {
				arm64[w.typ] = true
			}
		}
	}
	for _, typ := range []string{event.TypeKernelBug, event.TypeKernelPanic, event.TypeKernelLockup, event.TypeKernelMCE} {
		if !arm64[typ] {
			t.Errorf("no arm64 fixture produces %s", typ)
		}
	}
	for _, typ := range kernelTypes {
		if !old[typ] {
			t.Errorf("no 4.4-era fixture produces %s", typ)
		}
		if !recent[typ] {
			t.Errorf("no 5.x/6.x fixture produces %s", typ)
		}
	}
}

func checkFindings(t *testing.T, got []Finding, wants []want) {
	t.Helper()
	if len(got) != len(wants) {
		for _, f := range got {
			t.Logf("got %s %+v", f.Type, f.Data)
		}
		t.Fatalf("got %d findings, want %d", len(got), len(wants))
	}
	for i, w := range wants {
		f := got[i]
		if f.Type != w.typ {
			t.Errorf("finding %d: type %s, want %s", i, f.Type, w.typ)
			continue
		}
		if w.oom != nil {
			checkOOM(t, i, f, w.oom)
			continue
		}
		kr, ok := f.Data.(*event.KernelReport)
		if !ok {
			t.Errorf("finding %d: data %T, want *event.KernelReport", i, f.Data)
			continue
		}
		checkReport(t, i, kr, w)
	}
}

func checkReport(t *testing.T, i int, kr *event.KernelReport, w want) {
	t.Helper()
	str := []struct{ name, got, want string }{
		{"signature", kr.Signature, w.sig}, {"file", kr.File, w.file}, {"comm", kr.Comm, w.comm},
		{"release", kr.KernelRelease, w.release}, {"tainted", kr.Tainted, w.tainted}, {"device", kr.Device, w.device},
		{"reason", kr.Reason, w.reason}, {"op", kr.Op, w.op}, {"driver", kr.Driver, w.driver},
	}
	for _, c := range str {
		if c.want != "" && c.got != c.want {
			t.Errorf("finding %d: %s %q, want %q", i, c.name, c.got, c.want)
		}
	}
	if w.summary != "" && !strings.Contains(kr.Summary, w.summary) {
		t.Errorf("finding %d: summary %q does not contain %q", i, kr.Summary, w.summary)
	}
	if w.line != 0 && kr.Line != w.line {
		t.Errorf("finding %d: line %d, want %d", i, kr.Line, w.line)
	}
	if w.pid != 0 && kr.PID != w.pid {
		t.Errorf("finding %d: pid %d, want %d", i, kr.PID, w.pid)
	}
	if w.count != 0 && kr.Count != w.count {
		t.Errorf("finding %d: count %d, want %d", i, kr.Count, w.count)
	}
	if w.firstFrame != "" && (len(kr.CallTrace) == 0 || kr.CallTrace[0] != w.firstFrame) {
		t.Errorf("finding %d: call trace %q, want it to start with %q", i, kr.CallTrace, w.firstFrame)
	}
	if kr.Summary == "" || len(kr.Lines) == 0 || !slices.Contains(kr.Lines, kr.Summary) && kr.File == "" {
		t.Errorf("finding %d: summary %q or raw lines %q missing", i, kr.Summary, kr.Lines)
	}
	if kr.Count < 1 || kr.First.IsZero() || kr.Last.Before(kr.First) {
		t.Errorf("finding %d: count %d, first %v, last %v", i, kr.Count, kr.First, kr.Last)
	}
}

func checkOOM(t *testing.T, i int, f Finding, w *event.OOM) {
	t.Helper()
	o, ok := f.Data.(*event.OOM)
	if !ok {
		t.Errorf("finding %d: data %T, want *event.OOM", i, f.Data)
		return
	}
	got := *o
	if len(got.Lines) == 0 || !strings.Contains(got.Lines[0], "invoked oom-killer") {
		t.Errorf("finding %d: raw lines do not start at the report: %q", i, got.Lines)
	}
	got.Lines, got.Meminfo, got.BootID = nil, nil, ""
	if !reflect.DeepEqual(got, *w) {
		t.Errorf("finding %d:\n got %+v\nwant %+v", i, got, *w)
	}
}

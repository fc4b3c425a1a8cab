package drills_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/backtest"
)

// drill is one recorded incident.
type drill struct {
	dir, cluster string
}

var drills = []drill{
	{"2020-06-fs-h-2582", "tke-prod"},
	{"conntrack-full", "prod-sh"},
	{"memcg-oom-storm", "prod-bj"},
	{"node-silent", "prod-sz"},
	{"late-reboot", "prod-gz"},
	{"kernel-exposure", "prod-hz"},
	{"coredns-pod-timeout", "prod-wh"},
	{"oom-panic", "prod-cd"},
	{"disk-failing", "prod-nj"},
	{"coredns-oom", "prod-xa"},
}

func (d drill) events(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join(d.dir, "events.ndjson"))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func (d drill) lines(tb testing.TB) [][]byte {
	return bytes.SplitAfter(bytes.TrimSuffix(d.events(tb), []byte("\n")), []byte("\n"))
}

// expected is one row of a README's "Expected alerts" table.
type expected struct {
	Rule, Node, State string
	At                time.Time
	Summary           string
	Also              []string
}

func (x expected) String() string {
	return fmt.Sprintf("%s %s %s @%s", x.Rule, orDash(x.Node), x.State, x.At.Format("2006-01-02 15:04:05"))
}

func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// readExpected parses the README table: | rule | node | state | at (UTC) | summary | also says |.
func readExpected(tb testing.TB, d drill) []expected {
	tb.Helper()
	f, err := os.Open(filepath.Join(d.dir, "README.md"))
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	var out []expected
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "## "):
			in = line == "## Expected alerts"
			continue
		case !in || !strings.HasPrefix(line, "| `"):
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		if len(cells) != 6 {
			tb.Fatalf("%s/README.md:%d: %d cells, want 6: %s", d.dir, n, len(cells), line)
		}
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		at, err := time.Parse("2006-01-02 15:04:05", cells[3])
		if err != nil {
			tb.Fatalf("%s/README.md:%d: time: %v", d.dir, n, err)
		}
		x := expected{Rule: strings.Trim(cells[0], "`"), Node: cells[1], State: cells[2], At: at, Summary: cells[4]}
		if x.Node == "—" {
			x.Node = ""
		}
		if cells[5] != "" {
			x.Also = strings.Split(cells[5], " · ")
		}
		out = append(out, x)
	}
	if len(out) == 0 {
		tb.Fatalf("%s/README.md: no expected alerts", d.dir)
	}
	return out
}

// final keeps the last version of each alert (an update replaces the
// alert it updates), as a receiver finally shows it.
func final(as []*alert.Alert) []*alert.Alert {
	last := map[backtest.Key]*alert.Alert{}
	for _, a := range as {
		k := backtest.KeyOf(a)
		if old, ok := last[k]; !ok || a.Update >= old.Update {
			last[k] = a
		}
	}
	out := make([]*alert.Alert, 0, len(last))
	for _, a := range last {
		out = append(out, a)
	}
	slices.SortFunc(out, func(a, b *alert.Alert) int { return backtest.KeyOf(a).Compare(backtest.KeyOf(b)) })
	return out
}

func atOf(a *alert.Alert) time.Time {
	if a.State == alert.Resolved {
		return a.EndsAt.UTC()
	}
	return a.StartsAt.UTC()
}

// compare matches alerts with the README's rows one to one and reports
// every difference.
func compare(tb testing.TB, d drill, got []*alert.Alert) {
	tb.Helper()
	want := readExpected(tb, d)
	used := make([]bool, len(want))
	var problems []string
	for _, a := range got {
		if !a.Drill {
			problems = append(problems, fmt.Sprintf("alert %s %s is not marked as a drill", a.Rule, a.GroupKey))
		}
		i := slices.IndexFunc(want, func(x expected) bool {
			return x.Rule == a.Rule && x.Node == a.Labels["node"] && x.State == string(a.State) && x.At.Equal(atOf(a).Truncate(time.Second))
		})
		if i < 0 || used[i] {
			problems = append(problems, fmt.Sprintf("unexpected: | `%s` | %s | %s | %s | %s |", a.Rule, orDash(a.Labels["node"]), a.State, atOf(a).Format("2006-01-02 15:04:05"), a.Summary))
			continue
		}
		used[i] = true
		x := want[i]
		if a.Summary != x.Summary {
			problems = append(problems, fmt.Sprintf("%s: summary\n   got: %s\n  want: %s", x, a.Summary, x.Summary))
		}
		more := a.Details
		for _, v := range a.Annotations {
			more += "\n" + v
		}
		for _, s := range x.Also {
			if !strings.Contains(more, s) {
				problems = append(problems, fmt.Sprintf("%s: details and annotations lack %q:\n%s", x, s, more))
			}
		}
	}
	for i, x := range want {
		if !used[i] {
			problems = append(problems, fmt.Sprintf("missing: %s", x))
		}
	}
	if len(problems) > 0 {
		tb.Errorf("%s: alerts differ from %s/README.md:\n%s", d.dir, d.dir, strings.Join(problems, "\n"))
	}
}

// Package promcheck helps tests check PromQL written for aftershock's
// metrics (the Grafana dashboard, the Prometheus rules): which metrics an
// expression reads, whether they exist, and the real promtool.
package promcheck

import (
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/metricdefs"
)

var (
	strLit    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	braces    = regexp.MustCompile(`\{[^}]*\}`)
	labelList = regexp.MustCompile(`\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	ident     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*(\s*\()?`)
	rangeSel  = regexp.MustCompile(`\[[^\]]*\]`)
	number    = regexp.MustCompile(`\b\d[\w.]*`) // 0.99, 5m, 1e3
)

// keywords are PromQL words that are not metric names.
var keywords = map[string]bool{"and": true, "or": true, "unless": true, "bool": true, "offset": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"inf": true, "nan": true, "atan2": true}

// MetricNames returns the metric names an expression reads, sorted and
// unique: identifiers that are not functions, aggregations, keywords,
// label names or strings.
func MetricNames(expr string) []string {
	s := strLit.ReplaceAllString(expr, `""`)
	s = braces.ReplaceAllString(s, " ")
	s = labelList.ReplaceAllString(s, " ")
	s = rangeSel.ReplaceAllString(s, " ")
	s = number.ReplaceAllString(s, " ")
	var out []string
	for _, m := range ident.FindAllString(s, -1) {
		if strings.HasSuffix(strings.TrimSpace(m), "(") || keywords[strings.ToLower(m)] {
			continue // a function or aggregation
		}
		if !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return out
}

// Builtin are series Prometheus itself makes for every target.
var Builtin = []string{"up", "scrape_duration_seconds", "scrape_samples_scraped"}

// KnownSeries returns every series name the module's metrics have (see
// metricdefs.Def.Series), plus Builtin; root is the module root.
func KnownSeries(tb testing.TB, root string) map[string]bool {
	tb.Helper()
	defs, err := metricdefs.Scan(root, "aftershock_")
	if err != nil {
		tb.Fatal(err)
	}
	known := map[string]bool{}
	for _, d := range defs {
		for _, s := range d.Series() {
			known[s] = true
		}
	}
	for _, b := range Builtin {
		known[b] = true
	}
	return known
}

// Promtool returns the promtool binary, or skips the test saying how to
// get it (.ci/run installs Debian's prometheus package, which has it).
func Promtool(tb testing.TB) string {
	tb.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		tb.Skip("promtool not found: install it (apt-get install prometheus; .ci/run does) to check PromQL with the real parser")
	}
	return p
}

package rule

import (
	"fmt"

	"github.com/aftershock/aftershock/internal/brief"
	"sort"
	"strings"
	"text/template"
	"time"
)

// TemplateFuncs are available in summary, details and annotation templates
// (docs/rules.md lists them with examples).
var TemplateFuncs = template.FuncMap{
	"join": join,
	// fold lists values each once with their counts, most frequent first:
	// "java ×150, nginx ×47" (at most 10, then "and N more").
	"fold": func(v any) string { return brief.Fold(strs(v), 10) },
	// uniq lists values each once, in order of first appearance: "nvme1n1,
	// nvme1" (when counts of events would mislead beside a rolled-up count).
	"uniq":  uniq,
	"upper": strings.ToUpper,
	"lower": strings.ToLower,
	"since": func(a, b time.Time) time.Duration { return b.Sub(a).Round(time.Second) },
	// bytes formats a byte count, kib a KiB count (meminfo), as 3.1 GiB.
	"bytes": func(v any) string { return humanBytes(v, 1) },
	"kib":   func(v any) string { return humanBytes(v, 1024) },
	// seconds formats a count of seconds (uptime_seconds) as 10d0h, 6m2s.
	"seconds": func(v any) string { return brief.Duration(time.Duration(toFloat(v) * float64(time.Second))) },
	// plural is a count with its noun: "1 disk I/O error", "3 disk I/O
	// errors".
	"plural": plural,
	// pct formats part/whole as a percentage.
	"pct": func(part, whole any) string {
		p, w := toFloat(part), toFloat(whole)
		if w == 0 {
			return "?"
		}
		return fmt.Sprintf("%.0f%%", 100*p/w)
	},
	// trunc shortens a string to n runes with an ellipsis.
	"trunc": func(n int, s string) string {
		r := []rune(s)
		if len(r) <= n {
			return s
		}
		return string(r[:n]) + "…"
	},
	// utc formats a time as 2006-01-02 15:04:05 UTC.
	"utc": func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05 UTC") },
	// default returns def when v is empty.
	"default": func(def, v any) any {
		if v == nil || v == "" {
			return def
		}
		return v
	},
}

func parseTemplate(name, text string, loc *time.Location) (*template.Template, error) {
	return template.New(name).Funcs(TemplateFuncs).Funcs(zoneFuncs(loc)).Option("missingkey=zero").Parse(text)
}

// zoneFuncs format times in the routing's time zone: `local` as
// 2020-06-14 13:14:30 CST, `when` beside UTC as messages show them
// (2020-06-14 13:14:30 CST (05:14:30 UTC)); without a zone, both are UTC.
func zoneFuncs(loc *time.Location) template.FuncMap {
	c := brief.Clock{Loc: loc}
	return template.FuncMap{
		"local": func(t time.Time) string {
			if loc == nil {
				return t.UTC().Format("2006-01-02 15:04:05 MST")
			}
			return t.In(loc).Format("2006-01-02 15:04:05 MST")
		},
		"when": c.At,
	}
}

// join joins a list of any values (CEL lists arrive as []any).
func join(v any, sep string) string {
	switch x := v.(type) {
	case []string:
		return strings.Join(x, sep)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, sep)
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		return strings.Join(keys, sep)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// strs turns a template list into strings.
func uniq(v any) string {
	var out []string
	seen := map[string]bool{}
	for _, s := range strs(v) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return strings.Join(out, ", ")
}

func plural(n any, one, many string) string {
	switch n.(type) {
	case int, int64, uint64, float64:
	default:
		return fmt.Sprintf("%v %s", n, many)
	}
	if f := toFloat(n); f == 1 {
		return "1 " + one
	} else if f == float64(int64(f)) {
		return fmt.Sprintf("%d %s", int64(f), many)
	}
	return fmt.Sprintf("%g %s", toFloat(n), many)
}

func strs(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		out := make([]string, len(x))
		for i, e := range x {
			out[i] = fmt.Sprint(e)
		}
		return out
	case nil:
		return nil
	}
	return []string{fmt.Sprint(v)}
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case uint64:
		return float64(x)
	case float64:
		return x
	}
	return 0
}

func humanBytes(v any, unit float64) string {
	switch v.(type) {
	case int, int64, uint64, float64:
	default:
		return fmt.Sprint(v)
	}
	n := toFloat(v) * unit
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && i < len(units)-1 {
		n /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%.0f %s", n, units[i])
	}
	return fmt.Sprintf("%.1f %s", n, units[i])
}

package backtest

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/correlate"
)

// Report is the JSON document of a backtest (--json), stable for CI.
type Report struct {
	*Result
	Sets []SetReport `json:"rule_sets"`
	Diff *Diff       `json:"diff,omitempty"`
}

// SetReport is one rule set in the JSON report.
type SetReport struct {
	Dir     string               `json:"dir"`
	Version string               `json:"version"`
	Rules   int                  `json:"rules"`
	Alerts  []*View              `json:"alerts"`
	Stats   map[string]RuleStats `json:"stats"`
}

// RuleStats are the counters a reviewer needs: how often a rule matched
// and fired, and whether it erred or saw late events.
type RuleStats struct {
	Matched    int64 `json:"matched"`
	Fired      int64 `json:"fired"`
	Resolved   int64 `json:"resolved"`
	EvalErrors int64 `json:"eval_errors,omitempty"`
	Late       int64 `json:"late,omitempty"`
	Duplicates int64 `json:"duplicates,omitempty"`
	Dropped    int64 `json:"dropped,omitempty"`
}

func statsOf(st correlate.RuleStats) RuleStats {
	return RuleStats{Matched: st.Matched, Fired: st.Fired, Resolved: st.Resolved, EvalErrors: st.EvalErrors,
		Late: st.Late, Duplicates: st.Duplicates, Dropped: st.DroppedGroups + st.Overflow}
}

// NewReport assembles the report of res; diff may be nil.
func NewReport(res *Result, diff *Diff) *Report {
	rep := &Report{Result: res, Diff: diff}
	for _, r := range res.Runs {
		sr := SetReport{Dir: r.Name, Version: r.Version, Rules: r.Rules, Alerts: []*View{}, Stats: map[string]RuleStats{}}
		for _, a := range r.Alerts {
			sr.Alerts = append(sr.Alerts, ViewOf(a))
		}
		for name, st := range r.Stats {
			sr.Stats[name] = statsOf(st)
		}
		rep.Sets = append(rep.Sets, sr)
	}
	return rep
}

// WriteJSON writes the report as indented JSON.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // subjects like events.> stay readable in CI comments
	return enc.Encode(rep)
}

// WriteText writes the report for a terminal: the range read, then each
// rule set's alerts, or with a diff only the differences.
func (rep *Report) WriteText(w io.Writer) error {
	res := rep.Result
	var b strings.Builder
	fmt.Fprintf(&b, "read %s %s from %s to %s: %d events", res.Stream, strings.Join(res.Subjects, ","),
		stamp(res.From), stamp(res.Until), res.Events)
	if res.Skipped > 0 {
		fmt.Fprintf(&b, " (%d skipped: undecodable or on another node's subject)", res.Skipped)
	}
	fmt.Fprintf(&b, " in %s\n", time.Duration(res.Elapsed).Round(time.Millisecond))
	if rep.Diff == nil {
		for _, sr := range rep.Sets {
			fmt.Fprintf(&b, "\nrules %s (version %s, %d rules): %s\n", sr.Dir, sr.Version, sr.Rules, countAlerts(sr.Alerts))
			writeViews(&b, "  ", sr.Alerts)
			writeTrouble(&b, sr)
		}
		_, err := io.WriteString(w, b.String())
		return err
	}
	d := rep.Diff
	cand, base := rep.Sets[0], rep.Sets[1]
	fmt.Fprintf(&b, "\nrules %s (version %s) against baseline %s (version %s):\n", cand.Dir, cand.Version, base.Dir, base.Version)
	fmt.Fprintf(&b, "  %d added, %d removed, %d changed, %d unchanged\n", len(d.Added), len(d.Removed), len(d.Changed), d.Unchanged)
	if len(d.Added) > 0 {
		b.WriteString("\nadded (raised only by " + cand.Dir + "):\n")
		writeViews(&b, "+ ", d.Added)
	}
	if len(d.Removed) > 0 {
		b.WriteString("\nremoved (raised only by " + base.Dir + "):\n")
		writeViews(&b, "- ", d.Removed)
	}
	if len(d.Changed) > 0 {
		b.WriteString("\nchanged:\n")
		for _, c := range d.Changed {
			writeViews(&b, "~ ", []*View{c.After})
			for _, f := range c.Fields {
				before, after := field(c.Before, f), field(c.After, f)
				fmt.Fprintf(&b, "      %s: %s\n   →  %s\n", f, before, after)
			}
		}
	}
	writeTrouble(&b, cand)
	_, err := io.WriteString(w, b.String())
	return err
}

func countAlerts(vs []*View) string {
	firing := 0
	for _, v := range vs {
		if v.State == alert.Firing {
			firing++
		}
	}
	return fmt.Sprintf("%d alerts (%d firing, %d resolved)", len(vs), firing, len(vs)-firing)
}

// writeViews prints one alert per line in aligned columns; the summary is
// the last, unaligned column so a long one does not widen the others.
func writeViews(b *strings.Builder, prefix string, vs []*View) {
	tw := tabwriter.NewWriter(b, 0, 4, 2, ' ', 0)
	for _, v := range vs {
		state := strings.ToUpper(string(v.State))
		if v.Drill {
			state = "[DRILL] " + state
		}
		span := stamp(v.StartsAt)
		if !v.EndsAt.IsZero() {
			span += " → " + stamp(v.EndsAt)
		}
		fmt.Fprintf(tw, "%s%s\t%s\t%s\t%s\t%s\t%s\n", prefix, state, v.Severity, v.Rule, v.GroupKey, span, v.Summary)
	}
	_ = tw.Flush()
}

// writeTrouble lists rules that erred or saw late events: a rule edit
// that reads a missing field shows up here, not as silence.
func writeTrouble(b *strings.Builder, sr SetReport) {
	for _, name := range slices.Sorted(maps.Keys(sr.Stats)) {
		st := sr.Stats[name]
		if st.EvalErrors > 0 || st.Late > 0 || st.Dropped > 0 {
			fmt.Fprintf(b, "  rule %s: %d matched, %d evaluation errors (no match), %d late, %d dropped by limits\n",
				name, st.Matched, st.EvalErrors, st.Late, st.Dropped)
		}
	}
}

func field(v *View, f string) string {
	switch f {
	case "severity":
		return v.Severity
	case "summary":
		return fmt.Sprintf("%q", v.Summary)
	case "details":
		return fmt.Sprintf("%q", v.Details)
	case "labels":
		return fmt.Sprint(v.Labels)
	case "annotations":
		return fmt.Sprint(v.Annotations)
	case "receivers":
		return strings.Join(v.Receivers, ",")
	case "ends_at":
		return stamp(v.EndsAt)
	case "evidence_seen":
		return fmt.Sprint(v.EvidenceSeen)
	}
	return ""
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

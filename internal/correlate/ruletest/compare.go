package ruletest

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
)

// compare matches expected alerts against raised ones (in order, each
// raised alert used once) and describes every difference; "" when equal.
// Alerts of rules outside t.Rules (when set) are ignored, and so are
// updates of firing alerts unless the test expects one.
func compare(t Test, got []*alert.Alert, start time.Time) string {
	wantUpdates := slices.ContainsFunc(t.Expect, func(x Expect) bool { return x.Update > 0 })
	var inScope []*alert.Alert
	for _, a := range got {
		if len(t.Rules) > 0 && !slices.Contains(t.Rules, a.Rule) {
			continue
		}
		if a.Update > 0 && !wantUpdates {
			continue
		}
		inScope = append(inScope, a)
	}
	used := make([]bool, len(inScope))
	var b strings.Builder
	for _, x := range t.Expect {
		found := -1
		for i, a := range inScope {
			if !used[i] && len(mismatch(x, a, start)) == 0 {
				found = i
				break
			}
		}
		if found >= 0 {
			used[found] = true
			continue
		}
		fmt.Fprintf(&b, "  - missing:    %s\n", describeWant(x, start))
		if near := closest(x, inScope, used, start); near != nil {
			fmt.Fprintf(&b, "      closest:  %s\n", describe(near, start))
			for _, why := range mismatch(x, near, start) {
				fmt.Fprintf(&b, "                %s\n", why)
			}
		}
	}
	for i, a := range inScope {
		if !used[i] {
			fmt.Fprintf(&b, "  + unexpected: %s\n", describe(a, start))
		}
	}
	return b.String()
}

// mismatch lists how a differs from x.
func mismatch(x Expect, a *alert.Alert, start time.Time) []string {
	var out []string
	if a.Rule != x.Rule {
		return []string{fmt.Sprintf("rule is %s, want %s", a.Rule, x.Rule)}
	}
	state := x.State
	if state == "" {
		state = string(alert.Firing)
	}
	if string(a.State) != state {
		out = append(out, fmt.Sprintf("state is %s, want %s", a.State, state))
	}
	if x.Update != a.Update {
		out = append(out, fmt.Sprintf("update is %d, want %d", a.Update, x.Update))
	}
	if x.At != nil {
		want := x.At.Time(start)
		have := a.StartsAt
		if a.State == alert.Resolved {
			have = a.EndsAt
		}
		if !have.Equal(want) {
			out = append(out, fmt.Sprintf("at is %s, want %s", rel(have, start), rel(want, start)))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(x.Labels)) {
		if a.Labels[k] != x.Labels[k] {
			out = append(out, fmt.Sprintf("label %s is %q, want %q", k, a.Labels[k], x.Labels[k]))
		}
	}
	if x.Summary != "" && a.Summary != x.Summary {
		out = append(out, fmt.Sprintf("summary is %q, want %q", a.Summary, x.Summary))
	}
	for _, s := range x.SummaryContains {
		if !strings.Contains(a.Summary, s) {
			out = append(out, fmt.Sprintf("summary %q lacks %q", a.Summary, s))
		}
	}
	for _, s := range x.DetailsContains {
		if !strings.Contains(a.Details, s) {
			out = append(out, fmt.Sprintf("details lack %q (details: %q)", s, a.Details))
		}
	}
	if x.Title != "" && a.Headline != x.Title {
		out = append(out, fmt.Sprintf("title is %q, want %q", a.Headline, x.Title))
	}
	if x.Since != nil && !a.Begins().Equal(x.Since.Time(start)) {
		out = append(out, fmt.Sprintf("since is %s, want %s", rel(a.Begins(), start), rel(x.Since.Time(start), start)))
	}
	out = append(out, compareChange(x, a)...)
	for _, k := range slices.Sorted(maps.Keys(x.Annotations)) {
		// "" asks for no such annotation (a substring "" would hold always).
		if x.Annotations[k] == "" && a.Annotations[k] != "" {
			out = append(out, fmt.Sprintf("annotation %s is %q, want none", k, a.Annotations[k]))
			continue
		}
		if !strings.Contains(a.Annotations[k], x.Annotations[k]) {
			out = append(out, fmt.Sprintf("annotation %s is %q, want it to contain %q", k, a.Annotations[k], x.Annotations[k]))
		}
	}
	return out
}

// closest is the unused alert of the same rule with the fewest differences.
func closest(x Expect, got []*alert.Alert, used []bool, start time.Time) *alert.Alert {
	var best *alert.Alert
	bestN := 1 << 30
	for i, a := range got {
		if used[i] || a.Rule != x.Rule {
			continue
		}
		if n := len(mismatch(x, a, start)); n < bestN {
			best, bestN = a, n
		}
	}
	return best
}

func compareChange(x Expect, a *alert.Alert) []string {
	var out []string
	var notes []string
	significant := false
	if a.Change != nil {
		notes, significant = a.Change.Notes, a.Change.Significant
	}
	if x.Significant != nil && *x.Significant != significant {
		out = append(out, fmt.Sprintf("significant is %v, want %v (change notes: %q)", significant, *x.Significant, notes))
	}
	for _, s := range x.ChangeContains {
		if !slices.ContainsFunc(notes, func(n string) bool { return strings.Contains(n, s) }) {
			out = append(out, fmt.Sprintf("change notes lack %q (notes: %q)", s, notes))
		}
	}
	return out
}

func describeWant(x Expect, start time.Time) string {
	state := x.State
	if state == "" {
		state = string(alert.Firing)
	}
	s := fmt.Sprintf("rule=%s state=%s", x.Rule, state)
	if x.At != nil {
		s += " at=" + rel(x.At.Time(start), start)
	}
	if x.Update > 0 {
		s += fmt.Sprintf(" update=%d", x.Update)
	}
	if len(x.Labels) > 0 {
		s += " labels=" + labelString(x.Labels)
	}
	return s
}

func describe(a *alert.Alert, start time.Time) string {
	at := a.StartsAt
	if a.State == alert.Resolved {
		at = a.EndsAt
	}
	s := fmt.Sprintf("rule=%s state=%s at=%s", a.Rule, a.State, rel(at, start))
	if a.Update > 0 {
		s += fmt.Sprintf(" update=%d", a.Update)
	}
	return s + " labels=" + labelString(a.Labels) + fmt.Sprintf(" summary=%q", a.Summary)
}

func labelString(l map[string]string) string {
	parts := make([]string, 0, len(l))
	for _, k := range slices.Sorted(maps.Keys(l)) {
		parts = append(parts, k+"="+l[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// rel writes t as +DURATION from start.
func rel(t, start time.Time) string {
	d := t.Sub(start)
	if d < 0 {
		return "-" + (-d).String()
	}
	return "+" + d.String()
}

// Report writes results like `go test -v`; it returns the failure count.
func Report(w interface{ Write([]byte) (int, error) }, results []Result) int {
	failed := 0
	for _, r := range results {
		if r.Passed() {
			fmt.Fprintf(w, "ok    %s: %s\n", r.Pos, r.Name)
			continue
		}
		failed++
		fmt.Fprintf(w, "FAIL  %s: %s\n%s", r.Pos, r.Name, r.Diff)
		if len(r.Alerts) > 0 {
			fmt.Fprintf(w, "      raised (%d):\n", len(r.Alerts))
			for _, a := range r.Alerts {
				fmt.Fprintf(w, "        %s\n", describe(a, r.Start))
			}
		}
	}
	fmt.Fprintf(w, "%d tests, %d failed\n", len(results), failed)
	return failed
}

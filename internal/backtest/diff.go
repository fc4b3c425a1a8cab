package backtest

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
)

// Key identifies an alert across rule sets: rule, group key (and drill run,
// through the fingerprint), window start and state. It is what the alert's
// id is derived from, minus the update count.
type Key struct {
	Rule        string      `json:"rule"`
	GroupKey    string      `json:"group_key"`
	StartsAt    time.Time   `json:"starts_at"`
	State       alert.State `json:"state"`
	Drill       bool        `json:"drill,omitempty"`
	Fingerprint string      `json:"fingerprint"`
}

// KeyOf is a's key.
func KeyOf(a *alert.Alert) Key {
	return Key{Rule: a.Rule, GroupKey: a.GroupKey, StartsAt: a.StartsAt.UTC(), State: a.State, Drill: a.Drill, Fingerprint: a.Fingerprint}
}

// Compare orders keys by time, then rule, group and state (firing first).
func (k Key) Compare(o Key) int {
	return cmp.Or(k.StartsAt.Compare(o.StartsAt), cmp.Compare(k.Rule, o.Rule), cmp.Compare(k.GroupKey, o.GroupKey),
		cmp.Compare(k.State, o.State), cmp.Compare(k.Fingerprint, o.Fingerprint))
}

// Diff is how a candidate rule set's alerts differ from a baseline's.
type Diff struct {
	Baseline  string   `json:"baseline"`
	Candidate string   `json:"candidate"`
	Added     []*View  `json:"added"`
	Removed   []*View  `json:"removed"`
	Changed   []Change `json:"changed"`
	Unchanged int      `json:"unchanged"`
}

// Empty reports whether the two rule sets raised the same alerts.
func (d *Diff) Empty() bool { return len(d.Added)+len(d.Removed)+len(d.Changed) == 0 }

// Change is an alert both rule sets raised, saying different things.
type Change struct {
	Key    Key      `json:"key"`
	Fields []string `json:"fields"`
	Before *View    `json:"before"`
	After  *View    `json:"after"`
}

// CompareRuns diffs candidate against baseline.
func CompareRuns(baseline, candidate *Run) *Diff {
	d := &Diff{Baseline: baseline.Name, Candidate: candidate.Name, Added: []*View{}, Removed: []*View{}, Changed: []Change{}}
	base := map[Key]*alert.Alert{}
	for _, a := range baseline.Alerts {
		base[KeyOf(a)] = a
	}
	seen := map[Key]bool{}
	for _, a := range candidate.Alerts {
		k := KeyOf(a)
		seen[k] = true
		b, ok := base[k]
		if !ok {
			d.Added = append(d.Added, ViewOf(a))
			continue
		}
		if fields := changedFields(ViewOf(b), ViewOf(a)); len(fields) > 0 {
			d.Changed = append(d.Changed, Change{Key: k, Fields: fields, Before: ViewOf(b), After: ViewOf(a)})
		} else {
			d.Unchanged++
		}
	}
	for _, a := range baseline.Alerts {
		if !seen[KeyOf(a)] {
			d.Removed = append(d.Removed, ViewOf(a))
		}
	}
	return d
}

// changedFields names what differs between two views of one alert. The
// rules version, creation time and update count are not differences.
func changedFields(b, a *View) []string {
	var out []string
	add := func(name string, same bool) {
		if !same {
			out = append(out, name)
		}
	}
	add("severity", b.Severity == a.Severity)
	add("summary", b.Summary == a.Summary)
	add("details", b.Details == a.Details)
	add("labels", maps.Equal(b.Labels, a.Labels))
	add("annotations", maps.Equal(b.Annotations, a.Annotations))
	add("receivers", slices.Equal(b.Receivers, a.Receivers))
	add("ends_at", b.EndsAt.Equal(a.EndsAt))
	add("evidence_seen", b.EvidenceSeen == a.EvidenceSeen)
	return out
}

// View is the part of an alert a backtest reports (no evidence bodies:
// CI comments stay short).
type View struct {
	Rule         string            `json:"rule"`
	Severity     string            `json:"severity"`
	State        alert.State       `json:"state"`
	GroupKey     string            `json:"group_key"`
	Labels       map[string]string `json:"labels,omitempty"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	Summary      string            `json:"summary"`
	Details      string            `json:"details,omitempty"`
	Receivers    []string          `json:"receivers,omitempty"`
	StartsAt     time.Time         `json:"starts_at"`
	EndsAt       time.Time         `json:"ends_at,omitzero"`
	EvidenceSeen int               `json:"evidence_seen"`
	Drill        bool              `json:"drill,omitempty"`
	Updates      int               `json:"updates,omitempty"`
	ID           string            `json:"id"`
}

// ViewOf is a's view.
func ViewOf(a *alert.Alert) *View {
	return &View{
		Rule: a.Rule, Severity: a.Severity, State: a.State, GroupKey: a.GroupKey, Labels: a.Labels,
		Annotations: a.Annotations, Summary: a.Summary, Details: a.Details, Receivers: a.Receivers,
		StartsAt: a.StartsAt.UTC(), EndsAt: a.EndsAt.UTC(), EvidenceSeen: a.EvidenceSeen, Drill: a.Drill,
		Updates: a.Update, ID: a.ID,
	}
}

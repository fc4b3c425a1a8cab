// Package rule loads, checks and compiles aftershock's YAML+CEL rule files
// (format in docs/rules.md). internal/correlate evaluates what it compiles.
package rule

import (
	"fmt"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/aftershock/aftershock/internal/duration"
)

// Severity levels, in increasing order of urgency.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// File is one rules YAML file.
type File struct {
	Rules []Rule `yaml:"rules"`
	// Tables are small named lookup tables (e.g. known kernel bugs) that CEL
	// reads with table("name"). Names are global across the rule pack.
	Tables map[string][]map[string]string `yaml:"tables"`
}

// Rule is one correlation rule as written in YAML (see docs/rules.md).
type Rule struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	Severity    string `yaml:"severity"`
	// Labels are fixed, or templates over the alert's values (the crashed
	// node of a cluster-wide crash alert).
	Labels map[string]string `yaml:"labels"`
	// Annotations are templates rendered into the alert's annotations.
	Annotations map[string]string `yaml:"annotations"`
	// Match is a cheap CEL predicate over `event` deciding which events the
	// rule sees.
	Match string `yaml:"match"`
	// At is a CEL timestamp over `event`: when the thing happened, if not at
	// the event's time (a node.reboot reports, at boot, a crash that happened
	// at its last heartbeat). Windows, lateness and absence use it.
	At string `yaml:"at"`
	// GroupBy are CEL expressions over `event` whose values form the
	// correlation key; each is also an alert label.
	GroupBy []GroupKey `yaml:"group_by"`
	// Window is the event-time span a condition looks at.
	Window Duration `yaml:"window"`
	// Condition is a CEL predicate over the window (window rules) or over the
	// latest event of the group (state rules).
	Condition string `yaml:"condition"`
	// Lateness is how long a quiet group waits for stragglers before its
	// window slides (or its silence counts) on the timeline's clock.
	Lateness Duration `yaml:"lateness"`
	// AbsentFor fires when the matched stream of a group goes silent.
	AbsentFor Duration `yaml:"absent_for"`
	// ForgetAfter drops (and resolves) a group silent this long, so a node
	// removed from the cluster does not stay down forever.
	ForgetAfter Duration `yaml:"forget_after"`
	// Values are CEL expressions over the window, computed when the alert is
	// raised or resolved, for templates (.values.name).
	Values map[string]string `yaml:"values"`
	Limits Limits            `yaml:"limits"`
	// UpdateEvery re-renders a firing window alert at most this often (event
	// time) and publishes it again when its text changed: the blast radius
	// of a crash keeps growing after the first page.
	UpdateEvery Duration `yaml:"update_every"`
	// Title is a short headline template (what a phone shows of the page);
	// receivers fall back to the summary without it.
	Title   string `yaml:"title"`
	Summary string `yaml:"summary"`
	Details string `yaml:"details"`
	// Since is a CEL timestamp over the window: when what the alert is about
	// began (a crash, at the node's last heartbeat), shown as "since". The
	// alert's identity keeps the time it fired.
	Since string `yaml:"since"`
	// Significant names values whose change, while a window alert fires, is
	// news that cannot wait for update_every (a cause found, another node
	// crashed): the alert is updated at once, and the template (empty: a
	// default) says what changed.
	Significant map[string]string `yaml:"significant"`
	Receivers   []string          `yaml:"receivers"`

	// Source locates the rule for error messages: file and line of each key.
	Source Source `yaml:"-"`
}

// Limits bound the state a rule keeps; zero means the default.
type Limits struct {
	// MaxGroups per rule and timeline; events of further groups are counted
	// and dropped.
	MaxGroups int `yaml:"max_groups"`
	// MaxEntries per group: the compact per-event records counts are made
	// of. Beyond it the oldest are dropped early and counted.
	MaxEntries int `yaml:"max_entries"`
	// Evidence is how many full events are kept per event type and group.
	Evidence int `yaml:"evidence"`
}

// Defaults applied in one place.
const (
	DefaultLateness    = time.Minute
	DefaultForgetAfter = 24 * time.Hour
	DefaultMaxGroups   = 50_000
	DefaultMaxEntries  = 100_000
	DefaultEvidence    = 10
	DefaultUpdateEvery = time.Minute
)

// Kind is how a rule evaluates, decided by which fields it sets.
type Kind int

// Rule kinds.
const (
	// KindEvent: match only. Every matched event raises one alert.
	KindEvent Kind = iota
	// KindState: match and condition. The condition over the group's latest
	// event decides firing and resolved.
	KindState
	// KindWindow: match, window and condition over the group's window.
	KindWindow
	// KindAbsence: match and absent_for. Fires when a group goes silent,
	// resolves when it is heard again.
	KindAbsence
)

func (k Kind) String() string {
	return [...]string{"event", "state", "window", "absence"}[k]
}

// Kind derives the rule's kind from its fields.
func (r *Rule) Kind() Kind {
	switch {
	case r.AbsentFor > 0:
		return KindAbsence
	case r.Window > 0:
		return KindWindow
	case strings.TrimSpace(r.Condition) != "":
		return KindState
	}
	return KindEvent
}

// GroupKey is one group_by entry: a CEL expression and the label it sets.
// YAML accepts `event.node` (label "node") or `{pod: event.data.pod}`.
type GroupKey struct {
	Label string
	Expr  string
}

// UnmarshalYAML accepts a scalar expression or a one-entry map label: expr.
func (g *GroupKey) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		g.Expr = n.Value
		g.Label = labelOf(n.Value)
		return nil
	case yaml.MappingNode:
		if len(n.Content) == 2 && n.Content[0].Kind == yaml.ScalarNode && n.Content[1].Kind == yaml.ScalarNode {
			g.Label, g.Expr = n.Content[0].Value, n.Content[1].Value
			return nil
		}
	}
	return fmt.Errorf("line %d: group_by entry must be an expression or {label: expression}", n.Line)
}

// labelOf names the label of a group_by expression: its last field name for
// a plain path like event.data.pod, else the expression itself.
func labelOf(expr string) string {
	e := strings.TrimSpace(expr)
	i := strings.LastIndexByte(e, '.')
	last := e[i+1:]
	if i > 0 && isIdent(last) && isPath(e) {
		return last
	}
	return e
}

func isPath(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if !isIdent(part) {
			return false
		}
	}
	return true
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c != '_' && (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// Source is where a rule was written.
type Source struct {
	File string
	Line int
	// Keys maps a field name to the line of its key.
	Keys map[string]int
	// Values maps a field name to the line its scalar value starts on (the
	// line after the key for | and > blocks), so a CEL error on line 3 of a
	// block points at the right file line.
	Values map[string]int
}

// At formats file:line for key, falling back to the rule's line.
func (s Source) At(key string) string {
	line := s.Line
	if l, ok := s.Keys[key]; ok {
		line = l
	}
	return fmt.Sprintf("%s:%d", s.File, line)
}

// AtExprLine formats file:line for line exprLine (1-based) of the
// expression under key.
func (s Source) AtExprLine(key string, exprLine int) string {
	if l, ok := s.Values[key]; ok && exprLine > 0 {
		return fmt.Sprintf("%s:%d", s.File, l+exprLine-1)
	}
	return s.At(key)
}

// Duration is a duration written in a rule ("90s", "5m", "7d", "1d12h":
// package duration).
type Duration = duration.Duration

// Package rule loads, checks and compiles aftershock's YAML+CEL rule files.
package rule

import (
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
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
}

// Rule is one correlation rule as written in YAML (see docs/rules.md).
type Rule struct {
	Name        string            `yaml:"name"`
	Description string            `yaml:"description"`
	Severity    string            `yaml:"severity"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
	// Match is a cheap CEL predicate over `event` deciding which events the
	// rule sees.
	Match string `yaml:"match"`
	// GroupBy are CEL expressions over `event` whose values form the
	// correlation key.
	GroupBy []string `yaml:"group_by"`
	// Window is the event-time span a condition looks at; zero means every
	// matched event alerts on its own.
	Window Duration `yaml:"window"`
	// Condition is a CEL predicate over the window.
	Condition string `yaml:"condition"`
	// Lateness is how far behind the watermark an event may arrive.
	Lateness Duration `yaml:"lateness"`
	// AbsentFor fires when the matched stream of a group goes silent.
	AbsentFor Duration `yaml:"absent_for"`
	Summary   string   `yaml:"summary"`
	Details   string   `yaml:"details"`
	Receivers []string `yaml:"receivers"`

	// Source locates the rule for error messages: file and line of each key.
	Source Source `yaml:"-"`
}

// Source is where a rule was written.
type Source struct {
	File string
	Line int
	// Keys maps a field name to the line of its key.
	Keys map[string]int
}

// At formats file:line for key, falling back to the rule's line.
func (s Source) At(key string) string {
	line := s.Line
	if l, ok := s.Keys[key]; ok {
		line = l
	}
	return fmt.Sprintf("%s:%d", s.File, line)
}

// Duration is a time.Duration written as "90s", "5m", "7d".
type Duration time.Duration

// UnmarshalYAML parses Go durations plus a "d" (24h) suffix; the error
// carries the line so `rules check` can point at it.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// ParseDuration accepts Go durations and whole days ("7d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	var days time.Duration
	for i := 0; i < len(s); i++ {
		if s[i] == 'd' {
			var n int
			if _, err := fmt.Sscanf(s[:i], "%d", &n); err != nil || fmt.Sprint(n) != s[:i] || n < 0 {
				return 0, fmt.Errorf("bad duration %q", s)
			}
			days = time.Duration(n) * 24 * time.Hour
			s = s[i+1:]
			if s == "" {
				return days, nil
			}
			break
		}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("bad duration %q: %w", s, err)
	}
	if v < 0 {
		return 0, fmt.Errorf("bad duration %q: negative", s)
	}
	return days + v, nil
}

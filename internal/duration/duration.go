// Package duration is the one grammar of durations people write in rules,
// routing and flags: Go's ("90s", "5m", "4h30m") with whole days in front
// ("7d", "1d12h"). Negative durations are refused.
package duration

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Parse reads a duration.
func Parse(s string) (time.Duration, error) {
	var days time.Duration
	rest := s
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 || strconv.Itoa(n) != s[:i] {
			return 0, invalid(s)
		}
		days, rest = time.Duration(n)*24*time.Hour, s[i+1:]
		if rest == "" {
			return days, nil
		}
	}
	v, err := time.ParseDuration(rest)
	if err != nil {
		return 0, invalid(s)
	}
	if v < 0 {
		return 0, fmt.Errorf("invalid duration %q: negative", s)
	}
	return days + v, nil
}

func invalid(s string) error {
	return fmt.Errorf("invalid duration %q (want e.g. 30s, 5m, 4h, 7d, 1d12h)", s)
}

// Duration is a duration written in YAML.
type Duration time.Duration

// UnmarshalYAML parses the duration; the error names the line, so `rules
// check` can point at it.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := Parse(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration in Go syntax.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Std is d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

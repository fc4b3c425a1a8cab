package logtail

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/yamlfile"
)

//go:embed patterns.yaml
var defaultPatterns []byte

// Pattern turns matching log lines into events.
type Pattern struct {
	Name     string
	Type     string
	Code     string
	contains []byte
	re       *regexp.Regexp
}

type patternSpec struct {
	Name  string `yaml:"name"`
	Type  string `yaml:"type"`
	Regex string `yaml:"regex"`
	Code  string `yaml:"code"`
	// Contains is a literal every matching line has; lines without it skip
	// the regex (RE2 scanning unanchored patterns is the cost of tailing).
	Contains string `yaml:"contains"`
}

type patternFile struct {
	Patterns []patternSpec `yaml:"patterns"`
}

// groupNames are the named groups a regex may use.
var groupNames = []string{"service", "peer", "method", "code"}

// LoadPatterns reads a pattern file; "" loads the shipped examples
// (patterns.yaml in this package).
func LoadPatterns(path string) ([]Pattern, error) {
	if path == "" {
		return ParsePatterns("patterns.yaml (built in)", defaultPatterns)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("log patterns: %w", err)
	}
	return ParsePatterns(path, b)
}

// ParsePatterns decodes strictly (unknown fields are errors) and compiles
// every regex; each problem names the file, line and pattern.
func ParsePatterns(name string, b []byte) ([]Pattern, error) {
	var pf patternFile
	doc, err := yamlfile.Strict(b, &pf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	items := yamlfile.Items(doc, "patterns") // each pattern's line, for the messages below
	if len(pf.Patterns) == 0 {
		return nil, fmt.Errorf("%s: no patterns", name)
	}
	var errs []error
	var out []Pattern
	seen := map[string]bool{}
	for i, sp := range pf.Patterns {
		where := fmt.Sprintf("%s: pattern %d", name, i+1)
		if i < len(items) {
			where = fmt.Sprintf("%s:%d: pattern %q", name, items[i].Line, sp.Name)
		}
		if sp.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", where))
		} else if seen[sp.Name] {
			errs = append(errs, fmt.Errorf("%s: name used twice", where))
		}
		seen[sp.Name] = true
		if sp.Type == "" {
			sp.Type = event.TypeRPCTimeout
		}
		probe := event.Event{SpecVersion: event.SpecVersion, ID: "x", Source: "x", Type: sp.Type, Cluster: "x", Node: "x", Time: time.Unix(1, 0)}
		if err := probe.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("%s: type: %w", where, err))
		}
		if sp.Regex == "" {
			errs = append(errs, fmt.Errorf("%s: regex is required", where))
			continue
		}
		re, err := regexp.Compile(sp.Regex)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: regex: %w", where, err))
			continue
		}
		for _, g := range re.SubexpNames() {
			if g != "" && !slices.Contains(groupNames, g) {
				errs = append(errs, fmt.Errorf("%s: regex group %q: allowed names are %v", where, g, groupNames))
			}
		}
		if sp.Contains != "" && !strings.Contains(sp.Regex, regexp.QuoteMeta(sp.Contains)) && !strings.Contains(sp.Regex, sp.Contains) {
			errs = append(errs, fmt.Errorf("%s: contains %q does not appear literally in the regex", where, sp.Contains))
		}
		out = append(out, Pattern{Name: sp.Name, Type: sp.Type, Code: sp.Code, contains: []byte(sp.Contains), re: re})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// match returns the named groups of the first pattern matching line.
func match(patterns []Pattern, line []byte) (*Pattern, map[string]string) {
	for i := range patterns {
		p := &patterns[i]
		if len(p.contains) > 0 && !bytes.Contains(line, p.contains) {
			continue
		}
		m := p.re.FindSubmatchIndex(line)
		if m == nil {
			continue
		}
		groups := map[string]string{}
		for gi, name := range p.re.SubexpNames() {
			if name != "" && m[2*gi] >= 0 {
				groups[name] = string(line[m[2*gi]:m[2*gi+1]])
			}
		}
		if groups["code"] == "" && p.Code != "" {
			groups["code"] = p.Code
		}
		return p, groups
	}
	return nil, nil
}

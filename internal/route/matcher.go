package route

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// MatchType is the comparison a Matcher makes.
type MatchType string

// Matcher comparisons, as in Prometheus and Alertmanager.
const (
	MatchEqual     MatchType = "="
	MatchNotEqual  MatchType = "!="
	MatchRegexp    MatchType = "=~"
	MatchNotRegexp MatchType = "!~"
)

// Matcher tests one label. The text form is Alertmanager's:
// name="value", name!="value", name=~"regexp", name!~"regexp"; the quotes
// are optional. A missing label has the value "".
type Matcher struct {
	Name  string
	Type  MatchType
	Value string
	re    *regexp.Regexp
}

var labelName = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// ParseMatcher parses the text form of a matcher.
func ParseMatcher(s string) (*Matcher, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexAny(s, "=!")
	if i <= 0 {
		return nil, fmt.Errorf("matcher %q: want name=\"value\", name!=\"value\", name=~\"re\" or name!~\"re\"", s)
	}
	name := strings.TrimSpace(s[:i])
	rest := s[i:]
	var typ MatchType
	for _, t := range []MatchType{MatchRegexp, MatchNotRegexp, MatchNotEqual, MatchEqual} {
		if strings.HasPrefix(rest, string(t)) {
			typ = t
			break
		}
	}
	if typ == "" {
		return nil, fmt.Errorf("matcher %q: unknown operator", s)
	}
	if !labelName.MatchString(name) {
		return nil, fmt.Errorf("matcher %q: invalid label name %q", s, name)
	}
	val := strings.TrimSpace(rest[len(typ):])
	if strings.HasPrefix(val, `"`) {
		uq, err := strconv.Unquote(val)
		if err != nil {
			return nil, fmt.Errorf("matcher %q: bad quoted value: %w", s, err)
		}
		val = uq
	}
	return NewMatcher(name, typ, val)
}

// NewMatcher builds a matcher, compiling regexps anchored at both ends.
func NewMatcher(name string, typ MatchType, value string) (*Matcher, error) {
	m := &Matcher{Name: name, Type: typ, Value: value}
	if typ == MatchRegexp || typ == MatchNotRegexp {
		re, err := regexp.Compile("^(?:" + value + ")$")
		if err != nil {
			return nil, fmt.Errorf("matcher %s%s%q: %w", name, typ, value, err)
		}
		m.re = re
	}
	return m, nil
}

// Matches reports whether labels satisfy m.
func (m *Matcher) Matches(labels map[string]string) bool {
	v := labels[m.Name]
	switch m.Type {
	case MatchEqual:
		return v == m.Value
	case MatchNotEqual:
		return v != m.Value
	case MatchRegexp:
		return m.re.MatchString(v)
	case MatchNotRegexp:
		return !m.re.MatchString(v)
	}
	return false
}

// String is the text form, which ParseMatcher reads back.
func (m *Matcher) String() string {
	return m.Name + string(m.Type) + strconv.Quote(m.Value)
}

// Matchers match when every one matches; none matches everything.
type Matchers []*Matcher

// Matches reports whether labels satisfy every matcher.
func (ms Matchers) Matches(labels map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(labels) {
			return false
		}
	}
	return true
}

// ParseMatchers parses each text matcher.
func ParseMatchers(ss []string) (Matchers, error) {
	out := make(Matchers, 0, len(ss))
	for _, s := range ss {
		m, err := ParseMatcher(s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

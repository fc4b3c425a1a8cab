package rule

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/google/cel-go/cel"
)

// Compiled is a rule ready to evaluate: CEL programs and templates built once
// per load and shared, read-only, by every evaluation.
type Compiled struct {
	Rule
	Match     cel.Program
	GroupBy   []cel.Program
	Summary   *template.Template
	Details   *template.Template
	Annotated map[string]*template.Template
}

// Set is a checked, compiled rule set.
type Set struct {
	Rules   []*Compiled
	Version string
}

// CheckOptions are the facts a rule is checked against.
type CheckOptions struct {
	// Receivers that exist; nil skips the receiver check.
	Receivers []string
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Compile checks and compiles rules; it returns every problem found.
func Compile(env *Env, rules []Rule, opts CheckOptions) (*Set, Problems) {
	set := &Set{}
	var probs Problems
	for i := range rules {
		c, ps := compileOne(env, rules[i], opts)
		probs = append(probs, ps...)
		if c != nil {
			set.Rules = append(set.Rules, c)
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return set, nil
}

func compileOne(env *Env, r Rule, opts CheckOptions) (*Compiled, Problems) {
	var ps Problems
	bad := func(key, format string, args ...any) {
		ps = append(ps, Problem{r.Source.At(key), fmt.Sprintf("rule %q: ", r.Name) + fmt.Sprintf(format, args...)})
	}
	if !nameRE.MatchString(r.Name) {
		bad("name", "name must match %s", nameRE)
	}
	switch r.Severity {
	case SeverityInfo, SeverityWarning, SeverityCritical:
	case "":
		bad("severity", "severity is required (info, warning, critical)")
	default:
		bad("severity", "unknown severity %q (info, warning, critical)", r.Severity)
	}
	if strings.TrimSpace(r.Match) == "" {
		bad("match", "match is required")
	}
	if r.Summary == "" {
		bad("summary", "summary is required")
	}
	if r.Window > 0 || r.Condition != "" || r.AbsentFor > 0 {
		bad("window", "window, condition and absent_for are not supported by this engine yet")
	}
	if opts.Receivers != nil {
		for _, rc := range r.Receivers {
			if !slices.Contains(opts.Receivers, rc) {
				bad("receivers", "unknown receiver %q (have %s)", rc, strings.Join(opts.Receivers, ", "))
			}
		}
	}
	c := &Compiled{Rule: r, Annotated: map[string]*template.Template{}}
	if r.Match != "" {
		prg, err := env.program(r.Match, cel.BoolType)
		if err != nil {
			bad("match", "match: %v", err)
		}
		c.Match = prg
	}
	for _, g := range r.GroupBy {
		prg, err := env.program(g, nil)
		if err != nil {
			bad("group_by", "group_by %q: %v", g, err)
			continue
		}
		c.GroupBy = append(c.GroupBy, prg)
	}
	var err error
	if c.Summary, err = parseTemplate(r.Name+".summary", r.Summary); err != nil {
		bad("summary", "summary: %v", err)
	}
	if c.Details, err = parseTemplate(r.Name+".details", r.Details); err != nil {
		bad("details", "details: %v", err)
	}
	for k, v := range r.Annotations {
		t, err := parseTemplate(r.Name+"."+k, v)
		if err != nil {
			bad("annotations", "annotation %s: %v", k, err)
			continue
		}
		c.Annotated[k] = t
	}
	if len(ps) > 0 {
		return nil, ps
	}
	return c, nil
}

// TemplateFuncs are available in summary, details and annotation templates.
var TemplateFuncs = template.FuncMap{
	"join":  strings.Join,
	"upper": strings.ToUpper,
	"since": func(a, b time.Time) time.Duration { return b.Sub(a).Round(time.Second) },
	"bytes": humanBytes,
}

func parseTemplate(name, text string) (*template.Template, error) {
	return template.New(name).Funcs(TemplateFuncs).Option("missingkey=zero").Parse(text)
}

func humanBytes(v any) string {
	var n float64
	switch x := v.(type) {
	case int:
		n = float64(x)
	case int64:
		n = float64(x)
	case uint64:
		n = float64(x)
	case float64:
		n = x
	default:
		return fmt.Sprint(v)
	}
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

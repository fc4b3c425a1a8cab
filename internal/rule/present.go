package rule

import (
	"maps"
	"slices"
	"strings"
	"text/template"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
)

// Presentation is how a rule's alerts read, beyond summary and details:
// compiled at load like everything else, evaluated only when an alert is
// raised.
type Presentation struct {
	// TitleTemplate renders the short headline; nil: receivers use the summary.
	TitleTemplate *template.Template
	// SinceExpr is the CEL timestamp of `since`; nil: the alert's start.
	SinceExpr cel.Program
	// SignificantValues are the values whose change is news, sorted by name.
	SignificantValues []Significant
	// LabelTemplates are the labels whose values are templates.
	LabelTemplates map[string]*template.Template
	// AnnotationOrder lists the annotations as written, for people: the
	// rule author knows which matters most.
	AnnotationOrder []string
}

// Significant is one value whose change updates a firing alert at once.
type Significant struct {
	Value string
	// Note says what changed; nil: "<value> changed".
	Note *template.Template
	// Types are the event types the value's expression names (string
	// literals the rule's match accepts): only an event of one of them can
	// bring news, so only those re-evaluate it. Empty: every event does.
	Types []string
}

// namedTypes are the string literals of a that ts accepts as event types.
func namedTypes(a *cel.Ast, ts TypeSet) []string {
	if a == nil {
		return nil
	}
	var out []string
	ast.PreOrderVisit(a.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if lit, ok := stringLit(e); ok && ts.Accepts(lit) && !slices.Contains(out, lit) {
			out = append(out, lit)
		}
	}))
	slices.Sort(out)
	return out
}

// raiseTime reports whether the expression under key runs when an alert
// is raised (and may cost more), not for every event.
func raiseTime(key string) bool {
	return strings.HasPrefix(key, "values.") || key == "since"
}

func (k *compiler) presentation(c *Compiled) {
	r := k.r
	var err error
	if strings.TrimSpace(r.Title) != "" {
		if c.TitleTemplate, err = parseTemplate(c.Name+".title", r.Title, k.opts.Location); err != nil {
			k.bad("title", "title: %v", err)
		}
	}
	if strings.TrimSpace(r.Since) != "" {
		switch c.Kind {
		case KindWindow:
			_, c.SinceExpr = k.expr("since", r.Since, true, cel.TimestampType)
		case KindEvent: // a reboot reported minutes after the node died
			_, c.SinceExpr = k.expr("since", r.Since, false, cel.TimestampType)
		default:
			k.bad("since", "since applies to window and event rules only (others begin when their condition holds or their silence begins)")
		}
	}
	if len(r.Significant) > 0 && c.Kind != KindWindow {
		k.bad("significant", "significant applies to window rules only (only they are updated while firing)")
	}
	for _, name := range slices.Sorted(maps.Keys(r.Significant)) {
		if _, ok := r.Values[name]; !ok {
			k.bad("significant."+name, "significant %q is not one of the rule's values", name)
			continue
		}
		s := Significant{Value: name, Types: namedTypes(k.valueAsts[name], c.Types)}
		if text := r.Significant[name]; strings.TrimSpace(text) != "" {
			if s.Note, err = parseTemplate(c.Name+".significant."+name, text, k.opts.Location); err != nil {
				k.bad("significant."+name, "significant %s: %v", name, err)
				continue
			}
		}
		c.SignificantValues = append(c.SignificantValues, s)
	}
	for name, v := range r.Labels {
		if !strings.Contains(v, "{{") {
			continue
		}
		t, err := parseTemplate(c.Name+".labels."+name, v, k.opts.Location)
		if err != nil {
			k.bad("labels", "label %s: %v", name, err)
			continue
		}
		if c.LabelTemplates == nil {
			c.LabelTemplates = map[string]*template.Template{}
		}
		c.LabelTemplates[name] = t
	}
	c.AnnotationOrder = slices.SortedFunc(maps.Keys(r.Annotations), func(a, b string) int {
		la, lb := r.Source.Keys["annotations."+a], r.Source.Keys["annotations."+b]
		if la != lb {
			return la - lb
		}
		return strings.Compare(a, b)
	})
}

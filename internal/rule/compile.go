package rule

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types/ref"

	"github.com/aftershock/aftershock/internal/event"
)

// Compiled is a rule ready to evaluate: CEL programs and templates built once
// per load and shared, read-only, by every evaluation.
type Compiled struct {
	Rule
	Kind Kind
	// Types is what the match can accept; the engine's index uses it.
	Types TypeSet
	// Match is what the index cannot decide; nil when the index decides it.
	Match cel.Program
	// MatchAst is Match's checked expression (internal/ruleplan plans the
	// rule set from it).
	MatchAst *cel.Ast
	// At is nil when the event's time is the time it happened.
	At      cel.Program
	GroupBy []Group
	// GroupSig identifies the grouping (its expressions): rules with the
	// same one share an event's key.
	GroupSig string
	// Condition is nil for event and absence rules.
	Condition cel.Program
	// Native is the condition compiled to Go when it only compares window
	// counters (see NativeCondition); nil otherwise.
	Native NativeCondition
	// Values are evaluated in ValueNames order.
	Values     map[string]cel.Program
	ValueNames []string
	Summary    *template.Template
	Details    *template.Template
	Annotated  map[string]*template.Template
	Presentation
	// LatestTypes are the event types this rule reads through latest[...].
	LatestTypes []string
	// UsesEvents is set when condition or values read `events`, so the
	// engine builds that list only for rules that need it.
	UsesEvents bool
	// TemplateKeys are the keys of the template data the rule's templates
	// may read, so the engine builds only those.
	TemplateKeys TemplateKeys
	// Effective durations and limits, defaults applied.
	Lateness, ForgetAfter, UpdateEvery time.Duration
	Limits                             Limits
	// StateKey identifies what the rule's state depends on (match, grouping,
	// window, condition, limits): a reload keeps the state of a rule whose
	// StateKey is unchanged, even if its templates or labels changed.
	StateKey string
	// Cost is the largest static cost estimate of the expressions evaluated
	// per event; ValuesCost that of the values.
	Cost, ValuesCost uint64
}

// Group is one group_by entry, compiled. Field is set for plain envelope
// fields (event.cluster), read without CEL.
type Group struct {
	Label string
	Field string
	Prg   cel.Program
}

// Horizon is how far back in event time the rule's state can reach: what a
// restart must read back to rebuild it.
func (c *Compiled) Horizon() time.Duration {
	switch c.Kind {
	case KindWindow:
		return c.Window.Std() + c.Lateness
	case KindAbsence:
		return c.AbsentFor.Std() + c.Lateness
	}
	return 0
}

// Set is a checked, compiled rule set.
type Set struct {
	Rules   []*Compiled
	Version string
	Tables  map[string][]map[string]string
	// TablesVal is Tables as a CEL value, built once.
	TablesVal ref.Val

	env *Env
}

// CheckOptions are the facts a rule is checked against.
type CheckOptions struct {
	// Receivers that exist; nil skips the receiver check.
	Receivers []string
	// CostLimit overrides DefaultCostLimit.
	CostLimit uint64
	// Location is the routing's time_zone, for the local and when template
	// functions (nil: UTC).
	Location *time.Location
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// Compile checks and compiles a pack; it returns every problem found.
func Compile(env *Env, pack *Pack, opts CheckOptions) (*Set, Problems) {
	if opts.CostLimit == 0 {
		opts.CostLimit = DefaultCostLimit
	}
	set := &Set{Tables: pack.Tables, TablesVal: TablesValue(pack.Tables), env: env}
	var probs Problems
	for i := range pack.Rules {
		c, ps := compileOne(env, pack, pack.Rules[i], opts)
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

// compiler collects the problems of one rule.
type compiler struct {
	env   *Env
	pack  *Pack
	r     *Rule
	opts  CheckOptions
	probs Problems
	est   estimator
	types []string // schema-known types the match accepts (nil: unknown)
	cost  uint64
	// valuesCost is apart: values run when an alert is raised, not per event.
	valuesCost uint64
	refs       []refs
	valueAsts  map[string]*cel.Ast
}

func (k *compiler) bad(key, format string, args ...any) {
	k.probs = append(k.probs, Problem{Pos: k.r.Source.At(key), Msg: fmt.Sprintf("rule %q: ", k.r.Name) + fmt.Sprintf(format, args...)})
}

// expr compiles one expression under key in the event or window scope.
// want is the required output type (nil: any).
func (k *compiler) expr(key, text string, windowScope bool, want *cel.Type) (*cel.Ast, cel.Program) {
	e := k.env.event
	if windowScope {
		e = k.env.window
	}
	a, iss := e.Compile(text)
	if iss.Err() != nil {
		for _, ce := range iss.Errors() {
			k.probs = append(k.probs, Problem{
				Pos: k.r.Source.AtExprLine(key, ce.Location.Line()),
				Msg: fmt.Sprintf("rule %q: %s: %s (column %d)", k.r.Name, key, ce.Message, ce.Location.Column()+1),
			})
		}
		return nil, nil
	}
	if want != nil && !a.OutputType().IsExactType(want) && !a.OutputType().IsExactType(cel.DynType) {
		k.bad(key, "%s: must be %s, is %s", key, want, a.OutputType())
		return nil, nil
	}
	r := analyze(a, k.types, k.pack.Tables)
	for _, p := range r.probs {
		loc := a.NativeRep().SourceInfo().GetStartLocation(p.id)
		k.probs = append(k.probs, Problem{Pos: k.r.Source.AtExprLine(key, loc.Line()), Msg: fmt.Sprintf("rule %q: %s: %s", k.r.Name, key, p.msg)})
	}
	k.refs = append(k.refs, r)
	limit := k.opts.CostLimit
	if raiseTime(key) {
		limit *= ValuesCostFactor
	}
	cost, err := e.EstimateCost(a, k.est)
	if err != nil {
		k.bad(key, "%s: estimate cost: %v", key, err)
	} else if cost.Max > limit {
		k.bad(key, "%s: estimated cost %d exceeds the limit %d (nested loops over events or large lists?)", key, cost.Max, limit)
	}
	if raiseTime(key) {
		k.valuesCost = max(k.valuesCost, cost.Max)
	} else {
		k.cost = max(k.cost, cost.Max)
	}
	prg, err := e.Program(a, cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		k.bad(key, "%s: %v", key, err)
		return nil, nil
	}
	return a, prg
}

func compileOne(env *Env, pack *Pack, r Rule, opts CheckOptions) (*Compiled, Problems) {
	k := &compiler{env: env, pack: pack, r: &r, opts: opts}
	c := &Compiled{Rule: r, Kind: r.Kind(), Annotated: map[string]*template.Template{}, Values: map[string]cel.Program{}}
	k.checkFields(c)
	c.Lateness = durOr(r.Lateness, DefaultLateness)
	c.ForgetAfter = durOr(r.ForgetAfter, DefaultForgetAfter)
	c.UpdateEvery = durOr(r.UpdateEvery, DefaultUpdateEvery)
	c.Limits = Limits{
		MaxGroups:  intOr(r.Limits.MaxGroups, DefaultMaxGroups),
		MaxEntries: intOr(r.Limits.MaxEntries, DefaultMaxEntries),
		Evidence:   intOr(r.Limits.Evidence, DefaultEvidence),
	}

	if strings.TrimSpace(r.Match) != "" {
		if a, _ := k.expr("match", r.Match, false, cel.BoolType); a != nil {
			ts, rest, err := splitMatch(a)
			c.Types = ts
			k.types = ts.Known()
			switch {
			case err != nil:
				c.MatchAst, c.Match = k.expr("match", r.Match, false, cel.BoolType)
			case rest != "":
				c.MatchAst, c.Match = k.expr("match", rest, false, cel.BoolType)
			}
		}
	}
	nTypes := uint64(len(k.types))
	if nTypes == 0 {
		nTypes = 8
	}
	k.est = estimator{evidence: uint64(c.Limits.Evidence) * nTypes, tables: uint64(len(pack.Tables)), tableRows: map[string]uint64{}}
	for name, t := range pack.Tables {
		k.est.tableRows[name] = uint64(len(t))
		k.est.tableLen = max(k.est.tableLen, uint64(len(t)))
		for _, row := range t {
			for _, cell := range row {
				k.est.cellLen = max(k.est.cellLen, uint64(len(cell)))
			}
		}
	}
	if r.At != "" {
		_, c.At = k.expr("at", r.At, false, cel.TimestampType)
	}
	for _, g := range r.GroupBy {
		grp := Group{Label: g.Label}
		if f, ok := envelopeField(g.Expr); ok {
			grp.Field = f
		} else if _, grp.Prg = k.expr("group_by", g.Expr, false, nil); grp.Prg == nil {
			continue
		}
		if !labelRE.MatchString(grp.Label) {
			k.bad("group_by", "group_by %q: name its label, e.g. {pod: %s}", g.Expr, g.Expr)
		}
		c.GroupBy = append(c.GroupBy, grp)
	}
	for _, g := range r.GroupBy {
		c.GroupSig += g.Expr + "\x00"
	}
	if c.Kind == KindWindow || c.Kind == KindState {
		var a *cel.Ast
		if a, c.Condition = k.expr("condition", r.Condition, true, cel.BoolType); a != nil && c.Kind == KindWindow {
			c.Native = nativeCondition(a)
		}
	}
	c.ValueNames = slices.Sorted(maps.Keys(r.Values))
	for _, name := range c.ValueNames {
		if !labelRE.MatchString(name) {
			k.bad("values."+name, "value name %q must match %s", name, labelRE)
		}
		if a, prg := k.expr("values."+name, r.Values[name], true, nil); prg != nil {
			c.Values[name] = prg
			if k.valueAsts == nil {
				k.valueAsts = map[string]*cel.Ast{}
			}
			k.valueAsts[name] = a
		}
	}
	for _, rf := range k.refs {
		c.LatestTypes = append(c.LatestTypes, rf.latest...)
		c.UsesEvents = c.UsesEvents || rf.vars["events"]
	}
	slices.Sort(c.LatestTypes)
	c.LatestTypes = slices.Compact(c.LatestTypes)
	c.Cost, c.ValuesCost = k.cost, k.valuesCost
	k.templates(c)
	k.presentation(c)
	c.TemplateKeys = templateKeys(c.templatesAll()...)
	c.StateKey = stateKey(&r)
	if len(k.probs) > 0 {
		return nil, k.probs
	}
	return c, nil
}

var labelRE = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)

// checkFields validates the plain fields and the combination that decides
// the rule's kind.
func (k *compiler) checkFields(c *Compiled) {
	r := k.r
	if !nameRE.MatchString(r.Name) {
		k.bad("name", "name must match %s", nameRE)
	}
	switch r.Severity {
	case SeverityInfo, SeverityWarning, SeverityCritical:
	case "":
		k.bad("severity", "severity is required (info, warning, critical)")
	default:
		k.bad("severity", "unknown severity %q (info, warning, critical)", r.Severity)
	}
	if strings.TrimSpace(r.Match) == "" {
		k.bad("match", "match is required")
	}
	if r.Summary == "" {
		k.bad("summary", "summary is required")
	}
	switch c.Kind {
	case KindAbsence:
		if r.Window > 0 || r.Condition != "" {
			k.bad("absent_for", "absent_for cannot be combined with window or condition")
		}
		if len(r.GroupBy) == 0 {
			k.bad("absent_for", "absent_for needs group_by (whose silence? e.g. [event.cluster, event.node])")
		}
	case KindWindow:
		if strings.TrimSpace(r.Condition) == "" {
			k.bad("window", "window needs a condition")
		}
	}
	if c.Kind != KindAbsence && r.ForgetAfter > 0 {
		k.bad("forget_after", "forget_after applies to absent_for rules only")
	}
	if c.Kind == KindEvent && r.Lateness > 0 {
		k.bad("lateness", "lateness applies to window and absent_for rules only")
	}
	for name, v := range map[string]int{"max_groups": r.Limits.MaxGroups, "max_entries": r.Limits.MaxEntries, "evidence": r.Limits.Evidence} {
		if v < 0 {
			k.bad("limits", "limits.%s must not be negative", name)
		}
	}
	if k.opts.Receivers != nil {
		for _, rc := range r.Receivers {
			if !slices.Contains(k.opts.Receivers, rc) {
				k.bad("receivers", "unknown receiver %q (have %s)", rc, strings.Join(k.opts.Receivers, ", "))
			}
		}
	}
	for name := range r.Labels {
		if !labelRE.MatchString(name) {
			k.bad("labels", "label name %q must match %s", name, labelRE)
		}
	}
}

func (k *compiler) templates(c *Compiled) {
	var err error
	if c.Summary, err = parseTemplate(c.Name+".summary", c.Rule.Summary, k.opts.Location); err != nil {
		k.bad("summary", "summary: %v", err)
	}
	if c.Details, err = parseTemplate(c.Name+".details", c.Rule.Details, k.opts.Location); err != nil {
		k.bad("details", "details: %v", err)
	}
	for name, text := range c.Annotations {
		t, err := parseTemplate(c.Name+"."+name, text, k.opts.Location)
		if err != nil {
			k.bad("annotations."+name, "annotation %s: %v", name, err)
			continue
		}
		c.Annotated[name] = t
	}
}

// envelopeField recognises event.<string field> so grouping by it needs no
// CEL evaluation.
func envelopeField(expr string) (string, bool) {
	f, ok := strings.CutPrefix(strings.TrimSpace(expr), "event.")
	if !ok {
		return "", false
	}
	switch f {
	case "id", "type", "source", "cluster", "node", "subject":
		return f, true
	}
	return "", false
}

// EnvelopeValue reads an envelope field by name.
func EnvelopeValue(ev *event.Event, field string) string {
	switch field {
	case "id":
		return ev.ID
	case "type":
		return ev.Type
	case "source":
		return ev.Source
	case "cluster":
		return ev.Cluster
	case "node":
		return ev.Node
	case "subject":
		return ev.Subject
	}
	return ""
}

func stateKey(r *Rule) string {
	h := sha256.New()
	fmt.Fprintf(h, "%q %q %d %q %d %d %d %+v", r.Match, r.At, r.Window, r.Condition, r.Lateness, r.AbsentFor, r.ForgetAfter, r.Limits)
	for _, g := range r.GroupBy {
		fmt.Fprintf(h, " %q=%q", g.Label, g.Expr)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func durOr(d Duration, def time.Duration) time.Duration {
	if d > 0 {
		return d.Std()
	}
	return def
}

func intOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

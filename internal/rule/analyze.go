package rule

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// TypeSet is which event types a match expression can accept, read off its
// checked AST: `event.type == "x"`, `event.type in [...]`,
// `event.type.startsWith("p")`, combined with && and ||. All means the
// expression could accept any type (no literal found).
type TypeSet struct {
	All      bool
	Types    []string // sorted
	Prefixes []string // sorted
	// Exact is set when membership in the set is all the expression tests,
	// so the index decides it and it need not be evaluated.
	Exact bool
}

// Accepts reports whether typ is in the set.
func (s TypeSet) Accepts(typ string) bool {
	if s.All {
		return true
	}
	if _, ok := slices.BinarySearch(s.Types, typ); ok {
		return true
	}
	for _, p := range s.Prefixes {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}

// Known lists the schema-known types the set can accept (for field checks
// and cost estimates); nil when it accepts types without a schema.
func (s TypeSet) Known() []string {
	if s.All {
		return nil
	}
	out := slices.Clone(s.Types)
	for _, p := range s.Prefixes {
		for t := range Schemas {
			if strings.HasPrefix(t, p) {
				out = append(out, t)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func allTypes() TypeSet { return TypeSet{All: true} }

// within reports whether every type s accepts, u accepts too.
func (s TypeSet) within(u TypeSet) bool {
	if u.All {
		return true
	}
	if s.All {
		return false
	}
	for _, t := range s.Types {
		if !u.Accepts(t) {
			return false
		}
	}
	for _, p := range s.Prefixes {
		if !slices.ContainsFunc(u.Prefixes, func(q string) bool { return strings.HasPrefix(p, q) }) {
			return false
		}
	}
	return true
}

func setOf(types, prefixes []string) TypeSet {
	slices.Sort(types)
	slices.Sort(prefixes)
	return TypeSet{Types: slices.Compact(types), Prefixes: slices.Compact(prefixes), Exact: true}
}

// isEventType reports whether e is `event.type`.
func isEventType(e ast.Expr) bool {
	if e.Kind() != ast.SelectKind {
		return false
	}
	s := e.AsSelect()
	op := s.Operand()
	return !s.IsTestOnly() && s.FieldName() == "type" && op.Kind() == ast.IdentKind && op.AsIdent() == "event"
}

func stringLit(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// typeSetOf derives the TypeSet of a boolean expression.
func typeSetOf(e ast.Expr) TypeSet {
	if e.Kind() != ast.CallKind {
		return allTypes()
	}
	c := e.AsCall()
	args := c.Args()
	switch c.FunctionName() {
	case operators.Equals:
		if len(args) == 2 {
			for i := range 2 {
				if lit, ok := stringLit(args[1-i]); ok && isEventType(args[i]) {
					return setOf([]string{lit}, nil)
				}
			}
		}
	case operators.In:
		if len(args) == 2 && isEventType(args[0]) && args[1].Kind() == ast.ListKind {
			var ts []string
			for _, el := range args[1].AsList().Elements() {
				lit, ok := stringLit(el)
				if !ok {
					return allTypes()
				}
				ts = append(ts, lit)
			}
			return setOf(ts, nil)
		}
	case "startsWith":
		if c.IsMemberFunction() && isEventType(c.Target()) && len(args) == 1 {
			if lit, ok := stringLit(args[0]); ok {
				return setOf(nil, []string{lit})
			}
		}
	case operators.LogicalOr:
		a, b := typeSetOf(args[0]), typeSetOf(args[1])
		if a.All || b.All {
			return allTypes()
		}
		u := setOf(append(slices.Clone(a.Types), b.Types...), append(slices.Clone(a.Prefixes), b.Prefixes...))
		u.Exact = a.Exact && b.Exact
		return u
	case operators.LogicalAnd:
		a, b := typeSetOf(args[0]), typeSetOf(args[1])
		switch {
		case a.All && b.All:
			return allTypes()
		case a.All:
			b.Exact = false
			return b
		case b.All:
			a.Exact = false
			return a
		case len(a.Prefixes) == 0 && len(b.Prefixes) == 0:
			var both []string
			for _, t := range a.Types {
				if _, ok := slices.BinarySearch(b.Types, t); ok {
					both = append(both, t)
				}
			}
			s := setOf(both, nil)
			s.Exact = a.Exact && b.Exact
			return s
		case len(a.Prefixes) == 0:
			a.Exact = false
			return a
		default:
			b.Exact = false
			return b
		}
	}
	return allTypes()
}

// conjuncts flattens a top-level && chain.
func conjuncts(e ast.Expr) []ast.Expr {
	if e.Kind() == ast.CallKind && e.AsCall().FunctionName() == operators.LogicalAnd {
		args := e.AsCall().Args()
		return append(conjuncts(args[0]), conjuncts(args[1])...)
	}
	return []ast.Expr{e}
}

// splitMatch returns the match's type set and, when part of it is decided
// by the index, the rest as CEL text to evaluate: "" when the index decides
// it all, errKeepWhole when the whole match must be evaluated.
func splitMatch(a *cel.Ast) (TypeSet, string, error) {
	root := a.NativeRep().Expr()
	ts := typeSetOf(root)
	if ts.All {
		return ts, "", errKeepWhole
	}
	if ts.Exact {
		return ts, "", nil
	}
	var rest []string
	for _, c := range conjuncts(root) {
		// A type conjunct may be left to the index only if it holds for
		// every type the index accepts: `startsWith("app.") && in ["app.a",
		// "node.reboot"]` is indexed as the list, so the prefix test stays.
		if cs := typeSetOf(c); !cs.All && cs.Exact && ts.within(cs) {
			continue
		}
		s, err := cel.ExprToString(c, a.NativeRep().SourceInfo())
		if err != nil {
			return ts, "", errKeepWhole
		}
		rest = append(rest, "("+s+")")
	}
	return ts, strings.Join(rest, " && "), nil
}

var errKeepWhole = fmt.Errorf("evaluate the whole match")

// refs is what an expression refers to, found by walking its checked AST.
type refs struct {
	latest  []string // literal types indexed on latest
	tables  []string // table names selected on tables
	vars    map[string]bool
	probs   []exprProblem
	dataUse bool
}

type exprProblem struct {
	id  int64
	msg string
}

// analyze walks a checked expression: data field paths are checked against
// the schemas of matchTypes (or of T for latest["T"][node]), tables against
// the pack, and latest must be indexed by a literal.
func analyze(a *cel.Ast, matchTypes []string, tables map[string][]map[string]string) refs {
	r := refs{vars: map[string]bool{}}
	native := a.NativeRep()
	inner := map[int64]bool{} // selects inside an already checked data path
	ast.PreOrderVisit(native.Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		switch e.Kind() {
		case ast.IdentKind:
			r.vars[e.AsIdent()] = true
		case ast.CallKind:
			c := e.AsCall()
			if c.FunctionName() != operators.Index || len(c.Args()) != 2 {
				return
			}
			target, idx := c.Args()[0], c.Args()[1]
			if target.Kind() == ast.IdentKind && target.AsIdent() == "latest" {
				lit, ok := stringLit(idx)
				if !ok {
					r.probs = append(r.probs, exprProblem{e.ID(), "latest must be indexed by a literal event type, e.g. latest[\"node.posture\"]"})
					return
				}
				r.latest = append(r.latest, lit)
			}
			if target.Kind() == ast.IdentKind && target.AsIdent() == "tables" {
				if lit, ok := stringLit(idx); ok {
					r.tables = append(r.tables, lit)
					if _, ok := tables[lit]; !ok {
						r.probs = append(r.probs, exprProblem{e.ID(), fmt.Sprintf("no table %q (have %s)", lit, strings.Join(slices.Sorted(maps.Keys(tables)), ", "))})
					}
				}
			}
		case ast.SelectKind:
			s := e.AsSelect()
			op := s.Operand()
			if op.Kind() == ast.IdentKind && op.AsIdent() == "tables" {
				r.tables = append(r.tables, s.FieldName())
				if _, ok := tables[s.FieldName()]; !ok {
					r.probs = append(r.probs, exprProblem{e.ID(), fmt.Sprintf("no table %q (have %s)", s.FieldName(), strings.Join(slices.Sorted(maps.Keys(tables)), ", "))})
				}
			}
			// A data path X.data.a.b with X an aftershock.Event. Pre-order
			// visits the outermost select first; its prefixes are visited
			// too and are valid whenever the whole path is.
			if inner[e.ID()] {
				return
			}
			path, evExpr, ok := dataPath(e, native)
			if !ok {
				return
			}
			for cur := e.AsSelect().Operand(); cur.Kind() == ast.SelectKind; cur = cur.AsSelect().Operand() {
				inner[cur.ID()] = true
			}
			r.dataUse = true
			types := matchTypes
			if lt, ok := latestIndexType(evExpr); ok {
				types = []string{lt}
			}
			if msg := fieldPath(types, path); msg != "" {
				r.probs = append(r.probs, exprProblem{e.ID(), msg})
			}
		}
	}))
	return r
}

// dataPath returns the field path below .data for a select chain rooted at
// an aftershock.Event expression: X.data.a.b → [a b], X.
func dataPath(e ast.Expr, native *ast.AST) ([]string, ast.Expr, bool) {
	var path []string
	cur := e
	for cur.Kind() == ast.SelectKind {
		s := cur.AsSelect()
		op := s.Operand()
		if s.FieldName() == "data" && isEventTyped(op, native) {
			slices.Reverse(path)
			return path, op, len(path) > 0
		}
		path = append(path, s.FieldName())
		cur = op
	}
	return nil, nil, false
}

func isEventTyped(e ast.Expr, native *ast.AST) bool {
	t := native.GetType(e.ID())
	return t != nil && t.TypeName() == EventTypeName
}

// latestIndexType recognises latest["T"][node] and returns T.
func latestIndexType(e ast.Expr) (string, bool) {
	if e.Kind() != ast.CallKind || e.AsCall().FunctionName() != operators.Index {
		return "", false
	}
	inner := e.AsCall().Args()[0]
	if inner.Kind() != ast.CallKind || inner.AsCall().FunctionName() != operators.Index {
		return "", false
	}
	args := inner.AsCall().Args()
	if args[0].Kind() != ast.IdentKind || args[0].AsIdent() != "latest" {
		return "", false
	}
	return stringLit(args[1])
}

// CompileEventExpr compiles a boolean or value expression over `event` and
// `tables` in the set's environment, as match is compiled: the rule plan
// (internal/ruleplan) evaluates parts of matches on their own with it.
func (s *Set) CompileEventExpr(text string) (cel.Program, error) {
	if s.env == nil {
		return nil, fmt.Errorf("rule set has no environment")
	}
	a, iss := s.env.event.Compile(text)
	if iss.Err() != nil {
		return nil, iss.Err()
	}
	return s.env.event.Program(a, cel.EvalOptions(cel.OptOptimize))
}

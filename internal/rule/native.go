package rule

import (
	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// NativeCondition is a window condition the engine can evaluate without
// CEL: comparisons of window counters with integer literals, combined with
// &&, || and !. Most window conditions have this shape (`window.count() >=
// 10`, `window.followed_by([...], [...]) >= 20`), and they run on every
// event of their group, so they skip the interpreter and allocate nothing.
// The result is exactly what the CEL program computes: these functions
// cannot fail.
type NativeCondition func(w Window) bool

// nativeCondition translates a checked condition, or returns nil when it
// uses anything else (then CEL evaluates it).
func nativeCondition(a *cel.Ast) NativeCondition {
	return nativeBool(a.NativeRep().Expr())
}

func nativeBool(e ast.Expr) NativeCondition {
	switch e.Kind() {
	case ast.LiteralKind:
		if b, ok := e.AsLiteral().(types.Bool); ok {
			v := bool(b)
			return func(Window) bool { return v }
		}
		return nil
	case ast.CallKind:
	default:
		return nil
	}
	c := e.AsCall()
	args := c.Args()
	switch c.FunctionName() {
	case operators.LogicalAnd, operators.LogicalOr:
		l, r := nativeBool(args[0]), nativeBool(args[1])
		if l == nil || r == nil {
			return nil
		}
		if c.FunctionName() == operators.LogicalAnd {
			return func(w Window) bool { return l(w) && r(w) }
		}
		return func(w Window) bool { return l(w) || r(w) }
	case operators.LogicalNot:
		x := nativeBool(args[0])
		if x == nil {
			return nil
		}
		return func(w Window) bool { return !x(w) }
	case operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals, operators.Equals, operators.NotEquals:
		op := c.FunctionName()
		lhs, lok := nativeInt(args[0])
		rhs, rok := nativeInt(args[1])
		if !lok || !rok {
			return nil
		}
		return func(w Window) bool { return compare(op, lhs(w), rhs(w)) }
	}
	return nil
}

func compare(op string, a, b int64) bool {
	switch op {
	case operators.Less:
		return a < b
	case operators.LessEquals:
		return a <= b
	case operators.Greater:
		return a > b
	case operators.GreaterEquals:
		return a >= b
	case operators.Equals:
		return a == b
	}
	return a != b
}

// nativeInt translates an int literal or a window counter call.
func nativeInt(e ast.Expr) (func(Window) int64, bool) {
	if e.Kind() == ast.LiteralKind {
		if i, ok := e.AsLiteral().(types.Int); ok {
			v := int64(i)
			return func(Window) int64 { return v }, true
		}
		return nil, false
	}
	if e.Kind() != ast.CallKind {
		return nil, false
	}
	c := e.AsCall()
	if !c.IsMemberFunction() || c.Target().Kind() != ast.IdentKind || c.Target().AsIdent() != "window" {
		return nil, false
	}
	var lists [][]string
	for _, a := range c.Args() {
		l, ok := literalTypes(a)
		if !ok {
			return nil, false
		}
		lists = append(lists, l)
	}
	var f func(Window, []string) int64
	switch c.FunctionName() {
	case "count":
		f = Window.Count
	case "events":
		f = Window.Events
	case "nodes":
		f = Window.Nodes
	case "followed_by":
		if len(lists) != 2 {
			return nil, false
		}
		first, then := lists[0], lists[1]
		return func(w Window) int64 { return FollowedBy(w, first, then) }, true
	default:
		return nil, false
	}
	switch len(lists) {
	case 0:
		return func(w Window) int64 { return f(w, nil) }, true
	case 1:
		ts := lists[0]
		return func(w Window) int64 { return f(w, ts) }, true
	}
	return nil, false
}

// literalTypes reads "t" or ["t", "u"].
func literalTypes(e ast.Expr) ([]string, bool) {
	if s, ok := stringLit(e); ok {
		return []string{s}, true
	}
	if e.Kind() != ast.ListKind {
		return nil, false
	}
	var out []string
	for _, el := range e.AsList().Elements() {
		s, ok := stringLit(el)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

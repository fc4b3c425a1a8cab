package ruleplan

import (
	"slices"
	"strconv"
	"strings"

	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/types"
)

// op is what a node of a match's boolean structure does.
type op uint8

const (
	opTrue op = iota
	opFalse
	opAnd
	opOr
	opNot
	opLeaf
	opType // a test of event.type against literals, decided per type
)

// node is a match as a tree of &&, || and ! over leaves. CEL's logical
// operators are commutative over errors: with results ordered
// false < error < true, && is the minimum of its terms and || the maximum
// (a non-bool term counts as an error), so nested terms flatten and
// constants fold without changing any verdict.
type node struct {
	op   op
	kids []*node
	leaf *leaf
	tt   typeTest
}

var (
	nodeTrue  = &node{op: opTrue}
	nodeFalse = &node{op: opFalse}
)

// typeTest is event.type == / != "x", event.type in [...] or
// event.type.startsWith("p"): event.type is always a string, so the test
// is decided once per event type.
type typeTest struct {
	kind byte // '=', '!', 'i' (in), 'p' (prefix)
	lits []string
}

func (t typeTest) eval(typ string) bool {
	switch t.kind {
	case '=':
		return typ == t.lits[0]
	case '!':
		return typ != t.lits[0]
	case 'i':
		return slices.Contains(t.lits, typ)
	case 'p':
		return strings.HasPrefix(typ, t.lits[0])
	}
	return false
}

func (t typeTest) String() string {
	switch t.kind {
	case '=':
		return "event.type == " + quote(t.lits[0])
	case '!':
		return "event.type != " + quote(t.lits[0])
	case 'p':
		return "event.type.startsWith(" + quote(t.lits[0]) + ")"
	}
	q := make([]string, len(t.lits))
	for i, l := range t.lits {
		q[i] = quote(l)
	}
	return "event.type in [" + strings.Join(q, ", ") + "]"
}

// isEventType reports whether e is `event.type`.
func isEventType(e ast.Expr) bool {
	if e.Kind() != ast.SelectKind {
		return false
	}
	s := e.AsSelect()
	return !s.IsTestOnly() && s.FieldName() == "type" && isEvent(s.Operand())
}

func isEvent(e ast.Expr) bool { return e.Kind() == ast.IdentKind && e.AsIdent() == "event" }

func stringLit(e ast.Expr) (string, bool) {
	if e.Kind() != ast.LiteralKind {
		return "", false
	}
	s, ok := e.AsLiteral().(types.String)
	return string(s), ok
}

// stringList returns the elements of a list literal of strings.
func stringList(e ast.Expr) ([]string, bool) {
	if e.Kind() != ast.ListKind || len(e.AsList().OptionalIndices()) > 0 {
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

// asTypeTest recognises a test of event.type against literals.
func asTypeTest(e ast.Expr) (typeTest, bool) {
	if e.Kind() != ast.CallKind {
		return typeTest{}, false
	}
	c := e.AsCall()
	args := c.Args()
	switch fn := c.FunctionName(); fn {
	case operators.Equals, operators.NotEquals:
		kind := byte('=')
		if fn == operators.NotEquals {
			kind = '!'
		}
		for i := range 2 {
			if lit, ok := stringLit(args[1-i]); ok && isEventType(args[i]) {
				return typeTest{kind: kind, lits: []string{lit}}, true
			}
		}
	case operators.In:
		if isEventType(args[0]) {
			if lits, ok := stringList(args[1]); ok {
				return typeTest{kind: 'i', lits: lits}, true
			}
		}
	case "startsWith":
		if c.IsMemberFunction() && len(args) == 1 && isEventType(c.Target()) {
			if lit, ok := stringLit(args[0]); ok {
				return typeTest{kind: 'p', lits: []string{lit}}, true
			}
		}
	}
	return typeTest{}, false
}

// specialize folds the type tests of n for events of type typ.
func specialize(n *node, typ string) *node {
	switch n.op {
	case opType:
		if n.tt.eval(typ) {
			return nodeTrue
		}
		return nodeFalse
	case opNot:
		k := specialize(n.kids[0], typ)
		switch k.op {
		case opTrue:
			return nodeFalse
		case opFalse:
			return nodeTrue
		}
		if k == n.kids[0] {
			return n
		}
		return &node{op: opNot, kids: []*node{k}}
	case opAnd, opOr:
		// && drops true terms and is false with any false term; || the
		// other way round.
		absorb, unit := opFalse, opTrue
		if n.op == opOr {
			absorb, unit = opTrue, opFalse
		}
		var kids []*node
		for _, k := range n.kids {
			s := specialize(k, typ)
			switch {
			case s.op == absorb:
				return s
			case s.op == unit:
				continue
			case s.op == n.op:
				kids = append(kids, s.kids...)
			default:
				kids = append(kids, s)
			}
		}
		switch len(kids) {
		case 0:
			if n.op == opAnd {
				return nodeTrue
			}
			return nodeFalse
		case 1:
			return kids[0]
		}
		return &node{op: n.op, kids: kids}
	}
	return n
}

// hasTypeTests reports whether specializing n by type can change it.
func hasTypeTests(n *node) bool {
	if n.op == opType {
		return true
	}
	for _, k := range n.kids {
		if hasTypeTests(k) {
			return true
		}
	}
	return false
}

// conjuncts are the terms of a top-level &&, or n itself.
func conjuncts(n *node) []*node {
	if n.op == opAnd {
		return n.kids
	}
	return []*node{n}
}

// String renders n in CEL syntax.
func (n *node) String() string {
	switch n.op {
	case opTrue:
		return "true"
	case opFalse:
		return "false"
	case opType:
		return n.tt.String()
	case opLeaf:
		return n.leaf.text
	case opNot:
		return "!(" + n.kids[0].String() + ")"
	}
	sep := " && "
	if n.op == opOr {
		sep = " || "
	}
	parts := make([]string, len(n.kids))
	for i, k := range n.kids {
		parts[i] = k.String()
		if k.op == opAnd || k.op == opOr {
			parts[i] = "(" + parts[i] + ")"
		}
	}
	return strings.Join(parts, sep)
}

func quote(s string) string { return strconv.Quote(s) }

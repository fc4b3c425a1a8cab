package ruleplan

import (
	"slices"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/functions"
	"github.com/google/cel-go/common/operators"
	"github.com/google/cel-go/common/stdlib"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/aftershock/aftershock/internal/rule"
)

// slot is an attribute of the event that leaves compare with constants:
// an envelope field or a path into data, read once per event.
type slot struct {
	id   int
	text string
	// field is an envelope field, read through the view's own getter;
	// empty for data paths, which prog evaluates.
	field string
	// path is a data path of selects only, read without the program.
	path   []string
	prog   cel.Program
	leaves int
}

// test is how a leaf compares its slot with its constant.
type test uint8

const (
	testNone test = iota // an opaque leaf: only its program
	testBare             // the attribute itself, as a bool
	testEq
	testNe
	testLt
	testLe
	testGt
	testGe
	testIn
)

var testOps = map[string]test{
	operators.Equals: testEq, operators.NotEquals: testNe,
	operators.Less: testLt, operators.LessEquals: testLe,
	operators.Greater: testGt, operators.GreaterEquals: testGe,
}

// flipped is the test with its operands swapped: K < A is A > K.
func (t test) flipped() test {
	switch t {
	case testLt:
		return testGt
	case testLe:
		return testGe
	case testGt:
		return testLt
	case testGe:
		return testLe
	}
	return t
}

func (t test) ordering() bool { return t >= testLt && t <= testGe }

// orderings are the comparison functions exactly as the interpreter binds
// them (stdlib's singleton bindings: NaN compares false, a left operand
// without the Comparer trait is no such overload).
var orderings = func() map[string]*functions.Overload {
	m := map[string]*functions.Overload{}
	for _, fd := range stdlib.Functions() {
		switch fd.Name() {
		case operators.Less, operators.LessEquals, operators.Greater, operators.GreaterEquals:
			bs, err := fd.Bindings()
			if err != nil {
				panic(err)
			}
			for _, o := range bs {
				if o.Operator == fd.Name() {
					m[fd.Name()] = o
				}
			}
		}
	}
	return m
}()

// leaf is a maximal part of a match that is not &&, || or !: evaluated by
// its own program, or, when it compares an attribute with a constant, from
// the attribute's value with the operator CEL itself would apply. Leaves
// with the same text are one leaf, evaluated at most once per event however
// many rules use it.
type leaf struct {
	id   int
	text string
	prog cel.Program
	slot *slot
	test test
	k    ref.Val // the constant
	left bool    // the constant is the left operand
	// fn is the comparison of an ordering test.
	fn *functions.Overload
	// strs is an `in` list of string literals.
	strs  map[string]struct{}
	rules int
}

// fast computes the leaf's CEL value from its attribute's value a, as the
// interpreter would; ok is false where only the program can say.
func (l *leaf) fast(a ref.Val) (ref.Val, bool) {
	if l.test == testBare {
		return a, true
	}
	if types.IsUnknownOrError(a) {
		return a, true // every test here is strict in its attribute
	}
	lhs, rhs := a, l.k
	if l.left {
		lhs, rhs = rhs, lhs
	}
	switch l.test {
	case testEq:
		return types.Equal(lhs, rhs), true
	case testNe:
		return types.Bool(types.Equal(lhs, rhs) != types.True), true
	case testIn:
		if s, ok := a.(types.String); ok && l.strs != nil {
			_, in := l.strs[string(s)]
			return types.Bool(in), true
		}
	case testLt, testLe, testGt, testGe:
		if l.fn.OperandTrait == 0 || lhs.Type().HasTrait(l.fn.OperandTrait) {
			return l.fn.Binary(lhs, rhs), true
		}
	}
	return nil, false
}

// key reports whether the leaf can index the rules that require it: a
// string equality or membership, or an ordering against a number or a
// string.
func (l *leaf) key() bool {
	switch l.test {
	case testEq:
		_, ok := l.k.(types.String)
		return ok
	case testIn:
		return l.strs != nil
	case testLt, testLe, testGt, testGe:
		return domainOf(l.k) != domNone
	}
	return false
}

// domain is a set of values CEL orders totally.
type domain uint8

const (
	domNone domain = iota
	domNum         // int, uint and double (not NaN), compared across types
	domStr
)

func domainOf(v ref.Val) domain {
	switch x := v.(type) {
	case types.Int, types.Uint:
		return domNum
	case types.Double:
		if x == x { // not NaN
			return domNum
		}
	case types.String:
		return domStr
	}
	return domNone
}

// envelopeFields are the event's own fields, read without CEL.
var envelopeFields = map[string]bool{"id": true, "type": true, "source": true, "cluster": true, "node": true, "subject": true, "time": true, "drill": true}

// attribute recognises event.<field> and paths into data
// (event.data.a.b, event.data["a"]); path holds the names of a path of
// selects only, outermost last.
func attribute(e ast.Expr) (field string, path []string, isData bool) {
	if e.Kind() == ast.SelectKind {
		s := e.AsSelect()
		if !s.IsTestOnly() && isEvent(s.Operand()) && envelopeFields[s.FieldName()] {
			return s.FieldName(), nil, false
		}
	}
	selects := true
	for cur := e; ; {
		switch cur.Kind() {
		case ast.SelectKind:
			s := cur.AsSelect()
			if s.IsTestOnly() {
				return "", nil, false
			}
			if s.FieldName() == "data" && isEvent(s.Operand()) {
				if len(path) == 0 {
					return "", nil, false
				}
				slices.Reverse(path)
				if !selects {
					path = nil
				}
				return "", path, true
			}
			path = append(path, s.FieldName())
			cur = s.Operand()
		case ast.CallKind:
			c := cur.AsCall()
			if c.FunctionName() != operators.Index || len(c.Args()) != 2 {
				return "", nil, false
			}
			k, ok := stringLit(c.Args()[1])
			if !ok {
				return "", nil, false
			}
			path, selects = append(path, k), false
			cur = c.Args()[0]
		default:
			return "", nil, false
		}
	}
}

// read resolves a path of selects into data as the interpreter does
// (field by field, each a map lookup; a missing key is an error); ok is
// false where the interpreter's other cases apply (lists, other values),
// and the slot's program reads it instead.
func (s *slot) read(v *rule.EventView) (ref.Val, bool) {
	cur := v.Get(types.String("data"))
	for _, name := range s.path {
		m, ok := cur.(traits.Mapper)
		if !ok {
			return nil, false
		}
		val, found := m.Find(types.String(name))
		if types.IsError(val) {
			return val, true
		}
		if !found {
			return types.NewErr("no such key: %s", name), true
		}
		cur = val
	}
	return cur, true
}

func literal(e ast.Expr) (ref.Val, bool) {
	if e.Kind() != ast.LiteralKind {
		return nil, false
	}
	return e.AsLiteral(), true
}

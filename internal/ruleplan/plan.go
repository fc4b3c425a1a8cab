// Package ruleplan compiles the match expressions of a whole rule set into
// one plan, so an event costs work per distinct test rather than per rule.
//
// Each match (what the type index leaves of it, rule.Compiled.Match) is
// split along &&, || and ! into leaves. A leaf comparing an attribute of
// the event (an envelope field, or a path into data) with a constant is
// computed from the attribute's value, read once per event; every other
// leaf is its own CEL program. Leaves are shared by text across rules and
// evaluated at most once per event. Per event type the type tests left in
// a match fold away, and each rule is filed under one of its required
// leaves: string equalities in a hash table, orderings against constants in
// sorted tables, so an event visits only the rules whose key test did not
// fail. A rule's verdict is then its formula over the leaves, with CEL's
// own rules for errors, so it is the verdict of its program: true, false,
// or an evaluation error. What cannot be taken apart (macros that do not
// print back to CEL) is evaluated by the rule's own program.
//
// The design follows what CEL's planner does within one expression
// (attributes resolved once, constant folding) and what Falco's filter
// trees and Rete networks do across rules (shared tests, alpha memories
// indexed by constant).
package ruleplan

import (
	"fmt"
	"slices"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/aftershock/aftershock/internal/rule"
)

// Plan is a rule set's matches, compiled together. A Plan caches per event
// type; it is used by one goroutine at a time (the engine's).
type Plan struct {
	set    *rule.Set
	rules  []ruleInfo
	byRule map[*rule.Compiled]int
	leaves []*leaf
	slots  []*slot
	types  map[string]*TypePlan
	last   *TypePlan // events come in runs of one type
	// byText finds shared leaves and slots while building.
	byText  map[string]*leaf
	slotsBy map[string]*slot
}

type ruleInfo struct {
	c    *rule.Compiled
	form *node
	// whole is set when the match could not be taken apart: form is one
	// leaf, the rule's own program; why says why.
	whole bool
	why   string
	typed bool // form has type tests
}

// maxTypes bounds the per-type cache against a flood of distinct
// application event types.
const maxTypes = 10_000

// New plans set's matches.
func New(set *rule.Set) *Plan {
	p := &Plan{set: set, byRule: map[*rule.Compiled]int{}, types: map[string]*TypePlan{},
		byText: map[string]*leaf{}, slotsBy: map[string]*slot{}}
	for i, c := range set.Rules {
		p.byRule[c] = i
		ri := ruleInfo{c: c, form: nodeTrue}
		if c.Match != nil {
			form, err := p.formOf(c.MatchAst)
			if err != nil {
				ri.whole, ri.why = true, err.Error()
				form = p.wholeLeaf(c)
			}
			ri.form = form
			ri.typed = hasTypeTests(form)
		}
		p.count(ri.form, map[*leaf]bool{})
		p.rules = append(p.rules, ri)
	}
	p.byText, p.slotsBy = nil, nil
	return p
}

// count records how many rules use each leaf and slot.
func (p *Plan) count(n *node, seen map[*leaf]bool) {
	if n.op == opLeaf && !seen[n.leaf] {
		seen[n.leaf] = true
		n.leaf.rules++
		if n.leaf.slot != nil {
			n.leaf.slot.leaves++
		}
	}
	for _, k := range n.kids {
		p.count(k, seen)
	}
}

func (p *Plan) wholeLeaf(c *rule.Compiled) *node {
	l := &leaf{id: len(p.leaves), text: "match of rule " + c.Name, prog: c.Match}
	p.leaves = append(p.leaves, l)
	return &node{op: opLeaf, leaf: l}
}

type astCtx struct {
	info *ast.SourceInfo
}

func (p *Plan) formOf(a *cel.Ast) (*node, error) {
	if a == nil {
		return nil, fmt.Errorf("no checked expression")
	}
	native := a.NativeRep()
	return p.build(native.Expr(), astCtx{info: native.SourceInfo()})
}

// build turns a checked boolean expression into a formula.
func (p *Plan) build(e ast.Expr, cx astCtx) (*node, error) {
	if v, ok := literal(e); ok {
		if b, ok := v.(types.Bool); ok {
			if b {
				return nodeTrue, nil
			}
			return nodeFalse, nil
		}
	}
	if tt, ok := asTypeTest(e); ok {
		return &node{op: opType, tt: tt}, nil
	}
	if e.Kind() == ast.CallKind {
		c := e.AsCall()
		switch fn := c.FunctionName(); fn {
		case "_&&_", "_||_":
			o := opAnd
			if fn == "_||_" {
				o = opOr
			}
			n := &node{op: o}
			for _, arg := range c.Args() {
				k, err := p.build(arg, cx)
				if err != nil {
					return nil, err
				}
				if k.op == o {
					n.kids = append(n.kids, k.kids...)
				} else {
					n.kids = append(n.kids, k)
				}
			}
			return n, nil
		case "!_":
			k, err := p.build(c.Args()[0], cx)
			if err != nil {
				return nil, err
			}
			return &node{op: opNot, kids: []*node{k}}, nil
		}
	}
	l, err := p.leafOf(e, cx)
	if err != nil {
		return nil, err
	}
	return &node{op: opLeaf, leaf: l}, nil
}

// leafOf finds or makes the leaf of e.
func (p *Plan) leafOf(e ast.Expr, cx astCtx) (*leaf, error) {
	text, err := cel.ExprToString(e, cx.info)
	if err != nil {
		return nil, fmt.Errorf("%s does not print back to CEL", kindName(e.Kind()))
	}
	if l := p.byText[text]; l != nil {
		return l, nil
	}
	l := &leaf{id: len(p.leaves), text: text}
	if err := p.classify(l, e, cx); err != nil {
		return nil, err
	}
	// Every leaf has its program, fast path or not: it is what decides
	// values of types the fast path does not know.
	if l.prog, err = p.set.CompileEventExpr(text); err != nil {
		return nil, fmt.Errorf("%s: %w", text, err)
	}
	p.byText[text] = l
	p.leaves = append(p.leaves, l)
	return l, nil
}

// classify finds a leaf's attribute and constant, if it has them.
func (p *Plan) classify(l *leaf, e ast.Expr, cx astCtx) error {
	if s, err := p.slotOf(e, cx); s != nil || err != nil {
		l.slot, l.test = s, testBare
		return err
	}
	if e.Kind() != ast.CallKind {
		return nil
	}
	c := e.AsCall()
	args := c.Args()
	if c.IsMemberFunction() || len(args) != 2 {
		return nil
	}
	if c.FunctionName() == "@in" {
		s, err := p.slotOf(args[0], cx)
		if s == nil || err != nil {
			return err
		}
		if lits, ok := stringList(args[1]); ok {
			l.slot, l.test, l.strs = s, testIn, map[string]struct{}{}
			for _, x := range lits {
				l.strs[x] = struct{}{}
			}
		}
		return nil
	}
	t, ok := testOps[c.FunctionName()]
	if !ok {
		return nil
	}
	for i := range 2 {
		k, ok := literal(args[1-i])
		if !ok {
			continue
		}
		s, err := p.slotOf(args[i], cx)
		if err != nil {
			return err
		}
		if s == nil {
			continue
		}
		l.slot, l.test, l.k, l.left = s, t, k, i == 1
		if t.ordering() {
			l.fn = orderings[c.FunctionName()]
		}
		return nil
	}
	return nil
}

func kindName(k ast.ExprKind) string {
	switch k {
	case ast.ComprehensionKind:
		return "a comprehension (a macro such as cel.bind, exists, all, filter or map)"
	case ast.StructKind, ast.MapKind:
		return "a message or map literal"
	}
	return "an expression"
}

// slotOf finds or makes the slot of an attribute expression; nil if e is
// not one.
func (p *Plan) slotOf(e ast.Expr, cx astCtx) (*slot, error) {
	field, path, isData := attribute(e)
	if field == "" && !isData {
		return nil, nil
	}
	text := "event." + field
	if isData {
		var err error
		if text, err = cel.ExprToString(e, cx.info); err != nil {
			return nil, fmt.Errorf("cannot print an attribute back to CEL: %w", err)
		}
	}
	if s := p.slotsBy[text]; s != nil {
		return s, nil
	}
	s := &slot{id: len(p.slots), text: text, field: field, path: path}
	if isData {
		prg, err := p.set.CompileEventExpr(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", text, err)
		}
		s.prog = prg
	}
	p.slotsBy[text] = s
	p.slots = append(p.slots, s)
	return s, nil
}

// TypePlan is what events of one type go through.
type TypePlan struct {
	Type string
	// rules are those whose type set accepts the type (the type index),
	// in rule order; forms their matches for this type.
	rules []int
	forms []*node
	// always are the rules visited for every event of the type; keys
	// select the others by the value of one attribute.
	always []int
	keys   []*keyIndex
	// live is every rule an event of the type may match.
	live int
}

// Rules returns the rules whose type set accepts the type, in rule order.
func (t *TypePlan) Rules() []int { return t.rules }

// ForType returns the plan for events of type typ.
func (p *Plan) ForType(typ string) *TypePlan {
	if p.last != nil && p.last.Type == typ {
		return p.last
	}
	if tp, ok := p.types[typ]; ok {
		p.last = tp
		return tp
	}
	tp := p.planType(typ)
	if len(p.types) < maxTypes {
		p.types[typ] = tp
	}
	p.last = tp
	return tp
}

func (p *Plan) planType(typ string) *TypePlan {
	tp := &TypePlan{Type: typ, rules: []int{}}
	keys := map[*slot]*keyIndex{}
	for i, ri := range p.rules {
		if !ri.c.Types.Accepts(typ) {
			continue
		}
		form := ri.form
		if ri.typed {
			form = specialize(form, typ)
		}
		tp.rules = append(tp.rules, i)
		tp.forms = append(tp.forms, form)
		if form.op == opFalse {
			continue // the rule can never match this type
		}
		tp.live++
		k := keyOf(form)
		if k == nil {
			tp.always = append(tp.always, i)
			continue
		}
		ki := keys[k.slot]
		if ki == nil {
			ki = &keyIndex{slot: k.slot}
			keys[k.slot] = ki
			tp.keys = append(tp.keys, ki)
		}
		ki.add(k, i)
	}
	for _, ki := range tp.keys {
		ki.seal()
	}
	return tp
}

// keyOf picks the leaf a rule is filed under: a conjunct that must hold for
// the rule to match and that an index can select by; equality first.
func keyOf(form *node) *leaf {
	var best *leaf
	for _, n := range conjuncts(form) {
		if n.op != opLeaf || !n.leaf.key() {
			continue
		}
		if n.leaf.test == testEq || n.leaf.test == testIn {
			return n.leaf
		}
		if best == nil {
			best = n.leaf
		}
	}
	return best
}

// form returns rule i's match for this type, nil if the type index does
// not accept the type.
func (t *TypePlan) form(i int) *node {
	j, ok := slices.BinarySearch(t.rules, i)
	if !ok {
		return nil
	}
	return t.forms[j]
}

// Index returns the rule's position in the set, -1 if it is not in it.
func (p *Plan) Index(c *rule.Compiled) int {
	if i, ok := p.byRule[c]; ok {
		return i
	}
	return -1
}

// slotValue reads an attribute of the event.
func slotValue(s *slot, r *Run) ref.Val {
	if s.field != "" {
		return r.v.Get(types.String(s.field))
	}
	if s.path != nil {
		if v, ok := s.read(r.v); ok {
			return v
		}
	}
	return evalProg(s.prog, r.activation())
}

// evalProg is a program's CEL value, errors included (a recovered panic is
// an error too, as for the engine).
func evalProg(prg cel.Program, act *rule.Activation) ref.Val {
	out, _, err := prg.Eval(act)
	if out == nil {
		if err == nil {
			err = fmt.Errorf("no result")
		}
		return types.WrapErr(err)
	}
	return out
}

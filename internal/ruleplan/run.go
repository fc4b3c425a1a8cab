package ruleplan

import (
	"slices"
	"sort"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"

	"github.com/aftershock/aftershock/internal/rule"
)

// keyIndex files the rules of one event type under a required test of one
// attribute: string equalities and memberships in a hash table, orderings
// against constants in sorted tables. Selecting by it returns every rule
// whose key test may be true or an error, and none whose key test is false.
type keyIndex struct {
	slot   *slot
	eq     map[string][]int
	eqAll  []int
	ranges []*rangeTable
}

// rangeTable holds the rules requiring `attribute <test> K` for one test
// and one domain of constants, sorted by K.
type rangeTable struct {
	test  test // with the attribute on the left
	dom   domain
	ks    []ref.Val
	rules []int
	all   []int // rules in rule order
}

func (ki *keyIndex) add(l *leaf, i int) {
	switch l.test {
	case testEq:
		ki.addEq(string(l.k.(types.String)), i)
		return
	case testIn:
		for s := range l.strs {
			ki.addEq(s, i)
		}
		return
	}
	t := l.test
	if l.left {
		t = t.flipped()
	}
	dom := domainOf(l.k)
	var rt *rangeTable
	for _, x := range ki.ranges {
		if x.test == t && x.dom == dom {
			rt = x
		}
	}
	if rt == nil {
		rt = &rangeTable{test: t, dom: dom}
		ki.ranges = append(ki.ranges, rt)
	}
	rt.ks = append(rt.ks, l.k)
	rt.rules = append(rt.rules, i)
}

func (ki *keyIndex) addEq(s string, i int) {
	if ki.eq == nil {
		ki.eq = map[string][]int{}
	}
	if rs := ki.eq[s]; len(rs) == 0 || rs[len(rs)-1] != i {
		ki.eq[s] = append(rs, i)
	}
	if len(ki.eqAll) == 0 || ki.eqAll[len(ki.eqAll)-1] != i {
		ki.eqAll = append(ki.eqAll, i)
	}
}

// seal sorts the range tables by constant. Constants of one domain are
// totally ordered by their Compare, the same comparison the operators use.
func (ki *keyIndex) seal() {
	for _, rt := range ki.ranges {
		rt.all = slices.Clone(rt.rules)
		idx := make([]int, len(rt.ks))
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return rt.ks[idx[a]].(compareVal).Compare(rt.ks[idx[b]]) == types.IntNegOne })
		ks, rules := make([]ref.Val, len(idx)), make([]int, len(idx))
		for j, i := range idx {
			ks[j], rules[j] = rt.ks[i], rt.rules[i]
		}
		rt.ks, rt.rules = ks, rules
	}
}

type compareVal interface {
	Compare(ref.Val) ref.Val
}

// selectFor returns the rules whose test may hold for attribute value a.
func (rt *rangeTable) selectFor(a ref.Val) []int {
	if domainOf(a) != rt.dom {
		return rt.all // errors, other types, NaN: the rules decide
	}
	// lo: first K >= a; hi: first K > a.
	lo := sort.Search(len(rt.ks), func(i int) bool { return rt.ks[i].(compareVal).Compare(a) != types.IntNegOne })
	hi := lo + sort.Search(len(rt.ks)-lo, func(i int) bool { return rt.ks[lo+i].(compareVal).Compare(a) == types.IntOne })
	switch rt.test {
	case testGt: // K < a
		return rt.rules[:lo]
	case testGe: // K <= a
		return rt.rules[:hi]
	case testLt: // K > a
		return rt.rules[hi:]
	case testLe: // K >= a
		return rt.rules[lo:]
	}
	return rt.all
}

// Eval evaluates a Plan's matches, for one goroutine. Derived events are
// evaluated while their parent's rules are still being offered, so each
// derivation depth has its own Run.
type Eval struct {
	p    *Plan
	runs []*Run
}

// NewEval returns evaluation state for p.
func (p *Plan) NewEval() *Eval { return &Eval{p: p} }

// Run is the evaluation of one event: attribute values and leaf results,
// each computed at most once.
type Run struct {
	p   *Plan
	v   *rule.EventView
	tp  *TypePlan
	act rule.Activation
	// actSet is set once act holds this event: most events never need a
	// program, and filling it is not free.
	actSet bool
	gen    uint32
	// slotGen[i] == gen when slotVal[i] is this event's; likewise leaves.
	slotGen []uint32
	slotVal []ref.Val
	leafGen []uint32
	leafVal []ref.Val
	cands   []int
}

// Begin starts evaluating v at derivation depth depth; the Run of that
// depth is valid until the next Begin of the same depth.
func (x *Eval) Begin(depth int, v *rule.EventView) *Run {
	for len(x.runs) <= depth {
		x.runs = append(x.runs, &Run{p: x.p, slotGen: make([]uint32, len(x.p.slots)), slotVal: make([]ref.Val, len(x.p.slots)),
			leafGen: make([]uint32, len(x.p.leaves)), leafVal: make([]ref.Val, len(x.p.leaves))})
	}
	r := x.runs[depth]
	r.v, r.tp, r.actSet = v, x.p.ForType(v.Ev.Type), false
	r.gen++
	if r.gen == 0 { // wrapped: forget everything
		clear(r.slotGen)
		clear(r.leafGen)
		r.gen = 1
	}
	return r
}

// Run returns the evaluation of depth as left by Begin, nil before one.
func (x *Eval) Run(depth int) *Run {
	if depth < 0 || depth >= len(x.runs) {
		return nil
	}
	return x.runs[depth]
}

// View is the event of the Run (nil for a nil Run).
func (r *Run) View() *rule.EventView {
	if r == nil {
		return nil
	}
	return r.v
}

// Candidates returns the rules the event may match, in rule order: those
// visited for every event of its type and those its attribute values
// select. The slice is valid until the next Begin of this depth.
func (r *Run) Candidates() []int {
	tp := r.tp
	if len(tp.keys) == 0 {
		return tp.always
	}
	r.cands = append(r.cands[:0], tp.always...)
	for _, ki := range tp.keys {
		a := r.slot(ki.slot)
		if ki.eq != nil {
			if s, ok := a.(types.String); ok {
				r.cands = append(r.cands, ki.eq[string(s)]...)
			} else {
				r.cands = append(r.cands, ki.eqAll...)
			}
		}
		for _, rt := range ki.ranges {
			r.cands = append(r.cands, rt.selectFor(a)...)
		}
	}
	slices.Sort(r.cands)
	return r.cands
}

// Match is rule i's verdict on the event: true, false, or the error its
// match program would return.
func (r *Run) Match(i int) (bool, error) {
	form := r.tp.form(i)
	if form == nil {
		return false, nil // the type index does not accept the event
	}
	switch v := r.eval(form); v {
	case types.True:
		return true, nil
	case types.False:
		return false, nil
	default:
		return false, asError(v)
	}
}

func asError(v ref.Val) error {
	if e, ok := v.(*types.Err); ok {
		return e
	}
	return types.MaybeNoSuchOverloadErr(v).(*types.Err)
}

// eval computes a formula: types.True, types.False, or an error value.
func (r *Run) eval(n *node) ref.Val {
	switch n.op {
	case opTrue:
		return types.True
	case opFalse:
		return types.False
	case opLeaf:
		return r.leaf(n.leaf)
	case opNot:
		switch v := r.eval(n.kids[0]); v {
		case types.True:
			return types.False
		case types.False:
			return types.True
		default:
			return v
		}
	case opAnd, opOr:
		absorb, unit := types.False, types.True
		if n.op == opOr {
			absorb, unit = types.True, types.False
		}
		var err ref.Val
		for _, k := range n.kids {
			v := r.eval(k)
			if v == absorb {
				return v
			}
			if v != unit && err == nil {
				err = v
			}
		}
		if err != nil {
			return err
		}
		return unit
	}
	// opType never survives specialization.
	return types.NewErr("unplanned type test %s", n.tt)
}

// leaf returns a leaf's verdict as types.True, types.False or an error.
func (r *Run) leaf(l *leaf) ref.Val {
	if r.leafGen[l.id] == r.gen {
		return r.leafVal[l.id]
	}
	var v ref.Val
	ok := false
	if l.slot != nil {
		v, ok = l.fast(r.slot(l.slot))
	}
	if !ok {
		v = evalProg(l.prog, r.activation())
	}
	switch v.(type) {
	case types.Bool, *types.Err:
	default:
		v = types.MaybeNoSuchOverloadErr(v)
	}
	r.leafGen[l.id], r.leafVal[l.id] = r.gen, v
	return v
}

func (r *Run) activation() *rule.Activation {
	if !r.actSet {
		r.act = rule.Activation{Event: r.v, Tables: r.p.set.TablesVal}
		r.actSet = true
	}
	return &r.act
}

func (r *Run) slot(s *slot) ref.Val {
	if r.slotGen[s.id] == r.gen {
		return r.slotVal[s.id]
	}
	v := slotValue(s, r)
	r.slotGen[s.id], r.slotVal[s.id] = r.gen, v
	return v
}

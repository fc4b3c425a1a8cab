package ruleplan

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// compileRules compiles matches as rules named r0, r1, …; a match that does
// not compile on its own is left out (generated matches may not type-check).
func compileRules(tb testing.TB, matches []string) *rule.Set {
	tb.Helper()
	env, err := rule.SharedEnv()
	if err != nil {
		tb.Fatal(err)
	}
	tables := map[string][]map[string]string{"bugs": {{"signature": "BUG at fs.h", "kernel": ""}, {"signature": "soft lockup", "kernel": "^4\\.4\\."}}}
	mk := func(i int, m string) rule.Rule {
		return rule.Rule{Name: fmt.Sprintf("r%d", i), Severity: rule.SeverityInfo, Summary: "s", Match: m}
	}
	var keep []rule.Rule
	for i, m := range matches {
		if _, probs := rule.Compile(env, &rule.Pack{Rules: []rule.Rule{mk(i, m)}, Tables: tables}, rule.CheckOptions{}); len(probs) == 0 {
			keep = append(keep, mk(i, m))
		}
	}
	set, probs := rule.Compile(env, &rule.Pack{Rules: keep, Tables: tables}, rule.CheckOptions{})
	if len(probs) > 0 {
		tb.Fatalf("compile: %v", probs)
	}
	return set
}

// verdict is a match's outcome: 'T', 'F' or 'E' (an evaluation error,
// which the engine counts and treats as no match).
type verdict byte

func verdictOf(ok bool, err error) verdict {
	switch {
	case err != nil:
		return 'E'
	case ok:
		return 'T'
	}
	return 'F'
}

// alone is a rule's verdict when its whole match, as written, is compiled
// and evaluated by itself on a view of its own.
func alone(prg cel.Program, ev *event.Event, drill bool, set *rule.Set) verdict {
	act := rule.Activation{Event: rule.NewView(ev, drill), Tables: set.TablesVal}
	out, _, _ := prg.Eval(&act)
	switch out {
	case types.True:
		return 'T'
	case types.False:
		return 'F'
	}
	return 'E'
}

// checkPlan holds the plan of set to each rule's verdict on each event
// evaluated alone: the same verdict, the same error-or-not, and the rule
// among the candidates whenever its verdict is not false. It returns how
// many verdicts it compared and how many were true or errors.
func checkPlan(tb testing.TB, set *rule.Set, evs []*event.Event) (compared, notFalse int) {
	tb.Helper()
	whole := make([]cel.Program, len(set.Rules))
	for i, c := range set.Rules {
		prg, err := set.CompileEventExpr(c.Rule.Match)
		if err != nil {
			tb.Fatalf("%s: %v", c.Name, err)
		}
		whole[i] = prg
	}
	p := New(set)
	x := p.NewEval()
	for n, ev := range evs {
		drill := n%3 == 2
		run := x.Begin(0, rule.NewView(ev, drill))
		cands := run.Candidates()
		if !slices.IsSorted(cands) || len(slices.Compact(slices.Clone(cands))) != len(cands) {
			tb.Fatalf("event %d: candidates %v not in rule order or repeated", n, cands)
		}
		// Verdicts in reverse rule order: shared leaves must not depend
		// on which rule asked first.
		for i := len(set.Rules) - 1; i >= 0; i-- {
			c := set.Rules[i]
			want := alone(whole[i], ev, drill, set)
			got := verdict('F')
			if c.Types.Accepts(ev.Type) {
				got = verdictOf(run.Match(i))
			} else if slices.Contains(cands, i) {
				tb.Fatalf("event %d type %s: rule %s selected though its type index refuses the type", n, ev.Type, c.Name)
			}
			compared++
			if got != want {
				var b strings.Builder
				p.Explain(&b)
				tb.Fatalf("rule %s match %q on event type=%s cluster=%s drill=%v data=%s: plan says %c, alone %c\n%s",
					c.Name, c.Rule.Match, ev.Type, ev.Cluster, drill, ev.Data, got, want, b.String())
			}
			if got != 'F' {
				notFalse++
				if !slices.Contains(cands, i) {
					tb.Fatalf("rule %s match %q on event type=%s data=%s: verdict %c but not a candidate (%v)", c.Name, c.Rule.Match, ev.Type, ev.Data, got, cands)
				}
			}
		}
	}
	return compared, notFalse
}

func ev(typ, cluster, data string) *event.Event {
	e := &event.Event{SpecVersion: "1.0", ID: "e-" + typ, Source: "test", Type: typ, Time: t0, Cluster: cluster, Node: "n1", Subject: "n1"}
	if data != "" {
		e.Data = []byte(data)
	}
	return e
}

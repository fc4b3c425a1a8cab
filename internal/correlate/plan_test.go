package correlate

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/cel-go/common/types"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// TestPlanStats: through the engine, with the plan choosing the rules,
// each rule counts as matched exactly the events its match accepts when
// evaluated alone, and as evaluation errors exactly those it errs on,
// among many rules sharing tests, thresholds and keys.
func TestPlanStats(t *testing.T) {
	var b strings.Builder
	b.WriteString("rules:\n")
	var matches []string
	add := func(m string) {
		matches = append(matches, m)
		fmt.Fprintf(&b, "  - {name: r%d, severity: info, summary: s, match: '%s'}\n", len(matches)-1, strings.ReplaceAll(m, "'", "''"))
	}
	for i := range 20 {
		add(fmt.Sprintf(`event.type == "app.a" && event.data.value > %d`, 90+i))
	}
	for i := range 5 {
		add(fmt.Sprintf(`event.type == "app.a" && event.data.rule == "r%d" && event.data.value >= 95`, i))
	}
	add(`event.type in ["app.a", "app.b"] && !event.data.clean`)
	add(`event.type == "app.b" && event.data.missing > 1`)
	add(`event.type == "app.b" && (event.data.rule == "r1" || event.data.value < 5u)`)
	set := compile(t, b.String())
	e := New(set, quiet(), Options{})

	var evs []*event.Event
	for i := range 200 {
		typ := "app.a"
		if i%4 == 3 {
			typ = "app.b"
		}
		data := fmt.Sprintf(`{"value":%d,"rule":"r%d","clean":%v}`, (i*37)%110, i%7, i%3 == 0)
		switch i % 11 {
		case 5:
			data = `{"value":"high","rule":3}`
		case 7:
			data = `{"rule":"r1"}`
		}
		evs = append(evs, &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("e%03d", i), Source: "test", Type: typ,
			Time: t0.Add(time.Duration(i) * time.Second), Cluster: "c", Node: "n", Data: []byte(data)})
	}
	want := map[string]*RuleStats{}
	for i, m := range matches {
		prg, err := set.CompileEventExpr(m)
		if err != nil {
			t.Fatal(err)
		}
		st := &RuleStats{}
		for _, ev := range evs {
			act := rule.Activation{Event: rule.NewView(ev, false), Tables: set.TablesVal}
			switch out, _, _ := prg.Eval(&act); out {
			case types.True:
				st.Matched++
			case types.False:
			default:
				st.EvalErrors++
			}
		}
		want[fmt.Sprintf("r%d", i)] = st
	}
	for _, ev := range evs {
		e.Process(ev, Meta{})
	}
	got := e.Stats().Rules
	busy := 0
	for name, w := range want {
		g := got[name]
		if g.Matched != w.Matched || g.EvalErrors != w.EvalErrors {
			t.Errorf("%s: matched %d, errors %d; alone %d, %d", name, g.Matched, g.EvalErrors, w.Matched, w.EvalErrors)
		}
		if w.Matched > 0 && w.EvalErrors > 0 {
			busy++
		}
	}
	if busy < 5 {
		t.Errorf("only %d rules both match and err: the events do not exercise the plan", busy)
	}
}

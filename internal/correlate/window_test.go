package correlate

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// TestWindowViewsAgreeWithAScan checks the counters, masks and the
// subtract-the-outside shortcut of restricted windows against a plain scan
// of the records, over random windows with evictions.
func TestWindowViewsAgreeWithAScan(t *testing.T) {
	e := newEngine(t, thresholdRule)
	types := []string{"dns.timeout", "rpc.timeout", "node.reboot"}
	for _, ty := range types {
		e.types.id(ty)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for trial := range 200 {
		g := &group{}
		for i := range 1 + rng.IntN(300) {
			ty := types[rng.IntN(len(types))]
			node := fmt.Sprintf("n%d", rng.IntN(20))
			en := entry{at: int64(rng.IntN(1000)), typ: e.types.id(ty), node: e.nodes.id(node), occ: int64(1 + rng.IntN(3))}
			v := rule.NewView(&event.Event{ID: fmt.Sprint(i), Type: ty, Node: node}, false)
			g.insert(en, v, 5)
		}
		g.evict(int64(rng.IntN(300)), 250)
		if g.empty() {
			continue
		}
		from, to := int64(rng.IntN(1100))-50, int64(rng.IntN(1100))
		sets := [][]string{nil, {"dns.timeout"}, {"dns.timeout", "rpc.timeout"}, {"node.reboot", "rpc.timeout", "dns.timeout"}, {"nope.x"}}
		for _, ts := range sets {
			views := map[string]rule.Window{
				"whole":  winView{g: g, e: e, whole: true, from: minTime, to: maxTime},
				"after":  winView{g: g, e: e, whole: true, from: minTime, to: maxTime}.After(time.Unix(0, from)),
				"before": winView{g: g, e: e, whole: true, from: minTime, to: maxTime}.Before(time.Unix(0, to)),
				"both":   winView{g: g, e: e, whole: true, from: minTime, to: maxTime}.After(time.Unix(0, from)).Before(time.Unix(0, to)),
			}
			for name, w := range views {
				lo, hi := int64(minTime), int64(maxTime)
				switch name {
				case "after":
					lo = from
				case "before":
					hi = to
				case "both":
					lo, hi = from, to
				}
				var count, events int64
				nodes := map[uint32]bool{}
				for _, en := range g.live() {
					if en.at < lo || en.at >= hi || len(ts) > 0 && !slices.Contains(ts, e.types.names[en.typ]) {
						continue
					}
					count += en.occ
					events++
					nodes[en.node] = true
				}
				if got := w.Count(ts); got != count {
					t.Fatalf("trial %d %s %v: Count %d, scan %d", trial, name, ts, got, count)
				}
				if got := w.Events(ts); got != events {
					t.Fatalf("trial %d %s %v: Events %d, scan %d", trial, name, ts, got, events)
				}
				if got := w.Nodes(ts); got != int64(len(nodes)) {
					t.Fatalf("trial %d %s %v: Nodes %d, scan %d", trial, name, ts, got, len(nodes))
				}
			}
		}
	}
}

// TestNativeConditionsAgreeWithCEL evaluates conditions both ways on random
// windows.
func TestNativeConditionsAgreeWithCEL(t *testing.T) {
	conds := []string{
		`window.count() >= 40`,
		`window.count("dns.timeout") > 10 && window.nodes(["dns.timeout", "rpc.timeout"]) >= 12`,
		`window.followed_by(["node.reboot"], ["dns.timeout", "rpc.timeout"]) >= 15 || !(window.events() < 70)`,
		`window.nodes() == 20 || window.events("rpc.timeout") != 7`,
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, cond := range conds {
		e := newEngine(t, "rules:\n  - name: r\n    severity: info\n    summary: s\n    match: event.type in [\"dns.timeout\", \"rpc.timeout\", \"node.reboot\"]\n    group_by: [event.cluster]\n    window: 1h\n    condition: '"+cond+"'\n")
		c := e.set.Rules[0]
		if c.Native == nil {
			t.Fatalf("%s: not native", cond)
		}
		types := []string{"dns.timeout", "rpc.timeout", "node.reboot"}
		for trial := range 100 {
			g := &group{}
			for i := range rng.IntN(120) {
				ty := types[rng.IntN(3)]
				node := fmt.Sprintf("n%d", rng.IntN(25))
				g.insert(entry{at: int64(rng.IntN(1000)), typ: e.types.id(ty), node: e.nodes.id(node), occ: int64(1 + rng.IntN(2))},
					rule.NewView(&event.Event{ID: fmt.Sprint(i), Type: ty, Node: node}, false), 5)
			}
			w := winView{g: g, e: e, whole: true, from: minTime, to: maxTime}
			e.bindWindow(e.live, c, g, nil, w)
			out, _, err := c.Condition.Eval(&e.act)
			if err != nil {
				t.Fatal(err)
			}
			if native := c.Native(w); native != out.Value().(bool) {
				t.Fatalf("%s trial %d: native %v, CEL %v", cond, trial, native, out)
			}
		}
	}
}

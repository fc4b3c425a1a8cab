package ruleplan

import (
	"fmt"
	"strings"
	"testing"
)

// gen draws choices from fuzz input; past its end every choice is 0.
type gen struct {
	b []byte
	i int
}

func (g *gen) pick(n int) int {
	if g.i >= len(g.b) {
		return 0
	}
	c := g.b[g.i]
	g.i++
	return int(c) % n
}

func (g *gen) of(xs ...string) string { return xs[g.pick(len(xs))] }

var (
	genTypes  = []string{"app.a", "app.b", "app.c", "node.reboot", "dns.timeout", "aftershock.alert"}
	genFields = []string{"a", "b", "rule", "value"}
	genAttrs  = []string{"event.data.a", "event.data.b", "event.data.rule", "event.data.value", "event.data.m.k", `event.data["a"]`, "event.cluster", "event.node", "event.drill", "event.data.m"}
	genConsts = []string{"0", "1", "5", "-3", "900", "1.5", "5.0", "5u", `"x"`, `"node-down"`, `""`, "true", "false", "null", "[1]"}
	genOps    = []string{"==", "!=", "<", "<=", ">", ">="}
)

// leaf writes a test of the kinds rules use, type-correct or not (rules
// that do not compile are dropped).
func (g *gen) leaf() string {
	switch g.pick(12) {
	case 0, 1:
		return fmt.Sprintf("event.type == %q", g.of(genTypes...))
	case 2:
		return fmt.Sprintf("event.type in [%q, %q]", g.of(genTypes...), g.of(genTypes...))
	case 3:
		return g.of(`event.type.startsWith("app.")`, `event.type != "app.b"`, `has(event.data.m)`, `has(event.data.a)`)
	case 4, 5, 6:
		a, op, k := g.of(genAttrs...), g.of(genOps...), g.of(genConsts...)
		if g.pick(3) == 0 {
			return k + " " + op + " " + a
		}
		return a + " " + op + " " + k
	case 7:
		return fmt.Sprintf("%s in [%s, %s]", g.of(genAttrs...), g.of(genConsts...), g.of(genConsts...))
	case 8:
		return g.of(genAttrs...)
	case 9:
		return g.of(`size(event.data) > 1`, `event.data.a == event.data.b`, `event.data.value + 1 > 5`, `string(event.data.rule).startsWith("n")`)
	case 10:
		return g.of(`[1, 5].exists(x, x == event.data.a)`, `cel.bind(v, event.data.value, v > 1 && v < 1000)`, `event.data.a > 0 ? event.data.b == 1 : false`)
	}
	return g.of("true", "false")
}

func (g *gen) expr(depth int) string {
	if depth == 0 {
		return g.leaf()
	}
	switch g.pick(6) {
	case 0, 1:
		return "(" + g.expr(depth-1) + " && " + g.expr(depth-1) + ")"
	case 2:
		return "(" + g.expr(depth-1) + " || " + g.expr(depth-1) + ")"
	case 3:
		return "!(" + g.expr(depth-1) + ")"
	}
	return g.leaf()
}

// value writes a JSON value of any kind a field may have.
func (g *gen) value(depth int) string {
	switch g.pick(12) {
	case 0:
		return g.of("0", "1", "5", "-3", "900", "901", "1000")
	case 1:
		return g.of("1.5", "5.0", "900.5", "-0.0", "1e300", "18446744073709551615")
	case 2, 3:
		return g.of(`"x"`, `"node-down"`, `""`, `"n\u0078"`, `"\u00e9"`)
	case 4:
		return g.of("true", "false")
	case 5:
		return "null"
	case 6:
		if depth > 0 {
			return "[" + g.value(depth-1) + "]"
		}
	case 7:
		if depth > 0 {
			return `{"k":` + g.value(depth-1) + "}"
		}
	}
	return g.of("5", `"x"`)
}

func (g *gen) data() string {
	switch g.pick(16) {
	case 0:
		return ""
	case 1:
		return g.of(`[1]`, `"s"`, `7`)
	}
	var parts []string
	for _, f := range append(genFields, "m") {
		if g.pick(3) == 0 {
			continue // missing
		}
		parts = append(parts, fmt.Sprintf("%q:%s", f, g.value(2)))
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// FuzzPlan generates rule sets and events from the input and holds the
// plan to each rule's verdict evaluated alone (checkPlan).
func FuzzPlan(f *testing.F) {
	f.Add([]byte("\x04\x01\x02\x03\x05\x06\x07\x08\x09\x0a\x0b\x0c"))
	f.Add([]byte("\x00\x01\x04\x03\x02\x05\x00\x05\x06\x00\x07\x04\x01\x00\x03\x02\x09\x08"))
	f.Add([]byte("\x02\x00\x04\x03\x08\x04\x00\x02\x01\x05\x03\x0a\x09\x02\x07\x06\x05\x04\x03\x02\x01\x00\xff\xfe"))
	f.Add([]byte(strings.Repeat("\x07\x03\x01\x05\x0b\x02", 12)))
	f.Fuzz(func(t *testing.T, b []byte) {
		g := &gen{b: b}
		n := 1 + g.pick(12)
		var ms []string
		for range n {
			ms = append(ms, g.expr(g.pick(4)))
		}
		set := compileRules(t, ms)
		if len(set.Rules) == 0 {
			return
		}
		var evs = events[:0:0]
		for range 1 + g.pick(8) {
			evs = append(evs, ev(g.of(genTypes...), g.of("prod", "dev"), g.data()))
		}
		checkPlan(t, set, evs)
	})
}

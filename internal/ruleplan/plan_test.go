package ruleplan

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

var t0 = time.Date(2020, 6, 14, 13, 0, 0, 0, time.UTC)

// matches exercise every kind of leaf, the folding of type tests, and
// CEL's error rules (missing fields, wrong types, non-bool values).
var matches = []string{
	`event.type == "app.a" && event.data.rule == "node-down"`,
	`event.type == "app.a" && event.data.rule == "node-down" && event.data.state == "firing"`,
	`event.type == "app.a" && "node-down" == event.data.rule`,
	`event.type == "app.a" && event.data.rule != "node-down"`,
	`event.type == "app.a" && event.data.rule in ["a", "node-down"]`,
	`event.type == "app.a" && event.data.value > 900`,
	`event.type == "app.a" && event.data.value >= 900.5`,
	`event.type == "app.a" && event.data.value < 10u`,
	`event.type == "app.a" && 900 < event.data.value`,
	`event.type == "app.a" && 900 <= event.data.value && event.data.value <= 950`,
	`event.type == "app.a" && event.data.rule > "m"`,
	`event.type == "app.a" && event.data.value == 905`,
	`event.type in ["app.a", "app.b"] && !event.data.clean`,
	`event.type in ["app.a", "app.b"] && event.data.clean`,
	`event.type == "app.b" && has(event.data.meminfo) && event.data.meminfo.total > 0 && event.data.meminfo.avail * 100 / event.data.meminfo.total >= 20`,
	`(event.type == "app.a" && event.data.rule == "node-down") || (event.type == "app.b" && !event.data.clean) || event.type in ["dns.timeout", "rpc.timeout"]`,
	`event.type.startsWith("app.") && event.cluster == "prod"`,
	`event.cluster == "prod" || event.node == "n1"`,
	`event.drill && event.type == "app.a"`,
	`!(event.type == "app.b") && event.data.value > 1`,
	`event.type != "app.b" && event.data["rule"] == "node-down"`,
	`event.type == "app.a" && event.data.meminfo.total > 100`,
	`event.type == "app.a" && [1, 2, 3].exists(x, x == event.data.value)`,
	`event.type == "app.a" && cel.bind(r, event.data.rule, r == "node-down" || r == "x")`,
	`event.type == "app.a" && tables.bugs.exists(b, string(event.data.rule).contains(b.signature))`,
	`event.type == "app.a" && size(event.data) > 2`,
	`event.type == "app.a" && event.data.value`,
	`event.type == "app.a" && (event.data.value > 5 ? true : event.data.rule == "x")`,
	`event.data.value > 900 && event.type == "app.a" || event.data.rule == "node-down"`,
	`true && event.type == "app.a"`,
	`event.type == "app.a" && false || event.type == "app.b"`,
	`event.type == "app.a" && event.time > timestamp("2020-01-01T00:00:00Z")`,
	`event.type == "app.a" && event.data.value > 900 && event.data.value > 950 && event.data.rule == "node-down"`,
	`event.type.startsWith("app.") && event.type in ["app.a", "node.reboot"]`,
}

var events = []*event.Event{
	ev("app.a", "prod", `{"rule":"node-down","state":"firing","value":950,"clean":false}`),
	ev("app.a", "prod", `{"rule":"node-down","state":"resolved","value":900,"clean":true}`),
	ev("app.a", "dev", `{"rule":"other","value":900.5}`),
	ev("app.a", "dev", `{"rule":"node-down","value":"high"}`),
	ev("app.a", "dev", `{"rule":7,"value":null,"clean":"yes"}`),
	ev("app.a", "dev", `{"value":1e300,"meminfo":{"total":200,"avail":50}}`),
	ev("app.a", "dev", `{"value":-5,"meminfo":{"total":"x"}}`),
	ev("app.a", "dev", `{"value":905,"rule":["node-down"],"meminfo":[1,2]}`),
	ev("app.a", "dev", `{"value":3,"value":960,"rule":"z"}`),
	ev("app.a", "dev", `{"rule":"node-\u0064own","value":18446744073709551615}`),
	ev("app.a", "dev", `[1,2,3]`),
	ev("app.a", "dev", `"just a string"`),
	ev("app.a", "dev", ``),
	ev("app.b", "prod", `{"clean":false,"meminfo":{"total":100,"avail":30},"value":2}`),
	ev("app.b", "prod", `{"clean":true,"meminfo":{"total":0,"avail":30}}`),
	ev("app.b", "prod", `{"meminfo":{"total":100,"avail":"lots"}}`),
	ev("app.c", "prod", `{"rule":"node-down","value":1000}`),
	ev("dns.timeout", "prod", `{"server":"10.96.0.10","name":"kubernetes.default","transport":"udp","timeout_ms":2000,"count":1}`),
	ev("node.reboot", "prod", `{"clean":false,"cause":"kernel_bug"}`),
	ev("aftershock.alert", "prod", `{"rule":"node-down","state":"firing"}`),
}

// TestVerdicts: every rule's verdict from the plan is its verdict
// evaluated alone, errors included, on events that reach every path.
func TestVerdicts(t *testing.T) {
	set := compileRules(t, matches)
	if len(set.Rules) != len(matches) {
		t.Fatalf("%d of %d matches compiled", len(set.Rules), len(matches))
	}
	compared, notFalse := checkPlan(t, set, events)
	if notFalse == 0 || notFalse == compared {
		t.Fatalf("%d of %d verdicts not false: the events do not discriminate", notFalse, compared)
	}
	t.Logf("%d verdicts, %d true or errors", compared, notFalse)
}

// TestShippedPack: the pack's rules on the events of its own tests'
// kinds.
func TestShippedPack(t *testing.T) {
	set, err := rule.LoadDir("../../rules", rule.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	evs := slices.Clone(events)
	for _, typ := range []string{"kernel.oom", "kernel.bug", "node.heartbeat", "node.posture", "aftershock.test", "kernel.conntrack_full"} {
		evs = append(evs,
			ev(typ, "prod", `{"constraint":"global","meminfo":{"mem_total_kb":1000,"mem_available_kb":500},"summary":"kernel BUG at include/linux/fs.h:2582!"}`),
			ev(typ, "prod", `{"constraint":"memcg","meminfo":{"mem_total_kb":1000,"mem_available_kb":5}}`))
	}
	evs = append(evs,
		ev("node.reboot", "prod", `{"clean":false,"previous_kernel":"4.4.0-104-generic","cause_detail":"kernel BUG at include/linux/fs.h:2582!","meminfo":{"mem_total_kb":1000,"mem_available_kb":500}}`),
		ev("aftershock.alert", "prod", `{"rule":"node-down","state":"resolved"}`))
	checkPlan(t, set, evs)
}

// TestPlanShape: what the plan does with the shapes that matter for speed.
func TestPlanShape(t *testing.T) {
	var ms []string
	for i := range 50 {
		ms = append(ms, fmt.Sprintf(`event.type == "app.a" && event.data.value > %d`, 900+2*i))
	}
	for i := range 10 {
		ms = append(ms, fmt.Sprintf(`event.type == "app.a" && event.data.rule == "r%d" && event.data.value > 0`, i))
	}
	ms = append(ms, `event.type == "app.a" && has(event.data.meminfo)`, `event.type == "app.a" && has(event.data.meminfo) && event.cluster != "x"`)
	set := compileRules(t, ms)
	p := New(set)
	tp := p.ForType("app.a")
	if len(tp.rules) != 62 || len(tp.always) != 2 || len(tp.keys) != 2 {
		t.Fatalf("app.a: %d rules, %d always, %d keys", len(tp.rules), len(tp.always), len(tp.keys))
	}
	if p.leaves[p.rules[60].form.leaf.id].rules != 2 {
		t.Errorf("has(event.data.meminfo) is not shared: %d rules", p.rules[60].form.leaf.rules)
	}
	if len(p.slots) != 3 {
		t.Errorf("%d attribute slots, want 3 (value, rule, cluster)", len(p.slots))
	}
	for _, tc := range []struct {
		data string
		want int // candidates
	}{
		{`{"value":901,"rule":"-"}`, 1 + 2},       // value > 900 only, and the two always
		{`{"value":999,"rule":"-"}`, 50 + 2},      // every threshold passed
		{`{"value":500,"rule":"-"}`, 0 + 2},       // none
		{`{"value":950,"rule":"r3"}`, 25 + 1 + 2}, // thresholds 900..948, rule r3, always
		{`{"rule":"r3"}`, 50 + 1 + 2},             // no value: every threshold rule decides (an error)
		{`{"value":"x","rule":"-"}`, 50 + 2},      // a string against numbers: the rules decide
		{`{"value":901}`, 1 + 10 + 2},             // no rule: the rules filed under it are errors
	} {
		run := p.NewEval().Begin(0, rule.NewView(ev("app.a", "c", tc.data), false))
		if got := len(run.Candidates()); got != tc.want {
			t.Errorf("%s: %d candidates, want %d", tc.data, got, tc.want)
		}
	}
	checkPlan(t, set, []*event.Event{ev("app.a", "c", `{"value":901}`), ev("app.a", "c", `{"value":950,"rule":"r3"}`), ev("app.a", "c", `{"rule":"r3"}`), ev("app.a", "c", `{"value":"x","meminfo":1}`)})
}

// TestDepths: a derived event evaluated while its parent's rules are still
// being offered leaves the parent's verdicts alone.
func TestDepths(t *testing.T) {
	set := compileRules(t, []string{`event.data.rule == "node-down"`, `event.data.value > 5`})
	x := New(set).NewEval()
	parent := rule.NewView(ev("app.a", "c", `{"rule":"node-down","value":1}`), false)
	r0 := x.Begin(0, parent)
	if ok, err := r0.Match(0); !ok || err != nil {
		t.Fatalf("parent rule 0: %v %v", ok, err)
	}
	child := rule.NewView(ev("aftershock.alert", "c", `{"rule":"other","value":10}`), false)
	r1 := x.Begin(1, child)
	if ok, _ := r1.Match(0); ok {
		t.Fatal("child matched rule 0")
	}
	if x.Run(0).View() != parent {
		t.Fatal("depth 0 lost its event")
	}
	if ok, err := x.Run(0).Match(1); ok || err != nil {
		t.Fatalf("parent rule 1 after the child: %v %v", ok, err)
	}
	if ok, _ := r1.Match(1); !ok {
		t.Fatal("child rule 1")
	}
	if x.Run(2) != nil || x.Run(-1) != nil {
		t.Fatal("a depth never begun has a Run")
	}
}

// TestExplain: the explanation names what each rule is filed under and the
// whole-program fallback.
func TestExplain(t *testing.T) {
	set, err := rule.LoadDir("../../rules", rule.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	New(set).Explain(&b)
	out := b.String()
	for _, want := range []string{
		fmt.Sprintf("plan of %d rules", len(set.Rules)),
		`aftershock.alert: event.data.rule == "node-down" && event.data.state == "firing"  [filed under hash: event.data.rule == "node-down"]`,
		"dns.timeout, rpc.timeout: true (decided by the type index)",
		"known-kernel-bug [kernel.bug, kernel.hung_task, kernel.lockup, kernel.netdevice_leak, kernel.panic, node.reboot]: its own program",
		// not-oom reads the out_of_memory table (a comprehension): its own
		// program, on crash-class events only.
		"not-oom [kernel.bug, kernel.lockup, kernel.oom, kernel.panic, node.reboot]: its own program",
		"event.data.constraint: hash of 2 values over 2 rules",
		"event.data.clean: 4 rules", // node-crash, kernel-exposure, kernel-recurrence, node-reboot-unclean
	} {
		if !strings.Contains(out, want) {
			t.Errorf("explanation lacks %q:\n%s", want, out)
		}
	}
}

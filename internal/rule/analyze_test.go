package rule

import (
	"strings"
	"testing"
)

func compileText(t *testing.T, yml string, opts CheckOptions) (*Set, Problems) {
	t.Helper()
	env, err := SharedEnv()
	if err != nil {
		t.Fatal(err)
	}
	f, probs := Parse("r.yaml", []byte(yml))
	if len(probs) > 0 {
		return nil, probs
	}
	return Compile(env, &Pack{Rules: f.Rules, Tables: f.Tables}, opts)
}

func TestTypeIndexFromMatch(t *testing.T) {
	tests := []struct {
		match    string
		types    string // comma-joined; "*" = all
		prefixes string
		residual bool // part of the match still evaluated
	}{
		{`event.type == "dns.timeout"`, "dns.timeout", "", false},
		{`"dns.timeout" == event.type`, "dns.timeout", "", false},
		{`event.type in ["dns.timeout", "rpc.timeout"]`, "dns.timeout,rpc.timeout", "", false},
		{`event.type == "kernel.oom" && event.data.constraint == "global"`, "kernel.oom", "", true},
		{`event.type == "node.reboot" && !event.data.clean || event.type == "dns.timeout"`, "dns.timeout,node.reboot", "", true},
		{`event.type.startsWith("kernel.")`, "", "kernel.", false},
		{`event.type in ["a.b", "c.d"] && event.type == "a.b"`, "a.b", "", false},
		{`event.node == "x"`, "*", "", true},
		{`event.type == "a.b" || event.node == "x"`, "*", "", true},
		// The index takes the list; the prefix test must still run for
		// node.reboot (found by ruleplan's FuzzPlan).
		{`event.type.startsWith("app.") && event.type in ["app.a", "node.reboot"]`, "app.a,node.reboot", "", true},
		{`event.type in ["app.a", "node.reboot"] && event.type.startsWith("app.")`, "app.a,node.reboot", "", true},
		{`event.type in ["app.a", "app.b"] && event.type.startsWith("app.")`, "app.a,app.b", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.match, func(t *testing.T) {
			set, probs := compileText(t, "rules:\n  - name: r\n    severity: info\n    summary: s\n    match: '"+strings.ReplaceAll(tt.match, "'", "''")+"'\n", CheckOptions{})
			if len(probs) > 0 {
				t.Fatal(probs)
			}
			c := set.Rules[0]
			got := strings.Join(c.Types.Types, ",")
			if c.Types.All {
				got = "*"
			}
			if got != tt.types || strings.Join(c.Types.Prefixes, ",") != tt.prefixes {
				t.Errorf("types %q prefixes %v, want %q %q", got, c.Types.Prefixes, tt.types, tt.prefixes)
			}
			if (c.Match != nil) != tt.residual {
				t.Errorf("residual program %v, want %v", c.Match != nil, tt.residual)
			}
		})
	}
}

func TestCheckProblems(t *testing.T) {
	head := "rules:\n  - name: r\n    severity: info\n    summary: s\n"
	tests := []struct {
		name, body, want string
	}{
		{"data field typo", "    match: event.type == \"kernel.oom\" && event.data.constrant == \"global\"\n",
			`r.yaml:5: rule "r": match: no field "constrant" in the data of kernel.oom`},
		{"nested data field", "    match: event.type == \"kernel.oom\" && event.data.meminfo.mem_fre_kb > 0\n",
			`no field "meminfo.mem_fre_kb"`},
		{"line inside a block", "    match: event.type == \"dns.timeout\"\n    group_by: [event.cluster]\n    window: 1m\n    condition: |\n      window.count() > 1 &&\n      window.cout() > 2\n",
			`r.yaml:10: rule "r": condition: undeclared reference to 'cout'`},
		{"window without condition", "    match: event.type == \"dns.timeout\"\n    window: 1m\n", "window needs a condition"},
		{"absence without group", "    match: event.type == \"node.heartbeat\"\n    absent_for: 1m\n", "absent_for needs group_by"},
		{"unknown table", "    match: event.type == \"kernel.bug\"\n    values:\n      bug: tables.known_bugz.size()\n", `no table "known_bugz"`},
		{"latest needs a literal", "    match: event.type == \"node.reboot\"\n    values:\n      p: latest[event.type][event.node]\n", "latest must be indexed by a literal"},
		{"condition type", "    match: event.type == \"node.posture\"\n    condition: event.node\n", "condition: must be bool"},
		{"undeclared variable", "    match: evnt.type == \"x.y\"\n", "undeclared reference to 'evnt'"},
		{"unnamed group label", "    match: event.type == \"x.y\"\n    group_by: [event.node + \"x\"]\n", "name its label"},
		{"cost", "    match: event.type == \"dns.timeout\"\n    group_by: [event.cluster]\n    window: 1m\n    condition: events.all(a, events.all(b, events.all(c, a.data.name + b.data.name != c.data.name)))\n",
			"exceeds the limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := compileText(t, head+tt.body, CheckOptions{})
			if !strings.Contains(probs.Error(), tt.want) {
				t.Fatalf("problems:\n%s\nwant one containing %q", probs, tt.want)
			}
		})
	}
}

func TestPackRulesCostWellUnderTheLimit(t *testing.T) {
	set, err := LoadDir("../../rules", CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range set.Rules {
		// Per-event expressions of the pack should be far from the limit:
		// they run on every matched event.
		if c.Cost > DefaultCostLimit/10 {
			t.Errorf("rule %s costs %d per event, within 10x of the limit %d", c.Name, c.Cost, DefaultCostLimit)
		}
	}
}

func TestOccurrences(t *testing.T) {
	tests := []struct {
		typ, data string
		want      int64
	}{
		{"dns.timeout", `{"server":"10.0.0.10","count":37,"first":"2020-06-14T13:14:40Z"}`, 37},
		{"dns.timeout", `{"server":"x", "count" : 5}`, 5},
		{"dns.timeout", `{"name":"count", "count":3}`, 3},
		{"dns.timeout", `{"server":"x"}`, 1},
		{"node.heartbeat", `{"count":9}`, 1}, // no count in its schema
		{"kernel.conntrack_full", `{"summary":"table full","count": 412}`, 412},
	}
	for _, tt := range tests {
		if got := occurrencesOf(tt.typ, tt.data); got != tt.want {
			t.Errorf("%s %s: %d, want %d", tt.typ, tt.data, got, tt.want)
		}
	}
}

func TestDecodeDataTypesBySchema(t *testing.T) {
	d, err := DecodeData("node.reboot", []byte(`{"clean":false,"last_heartbeat":"2020-06-14T13:14:38Z","meminfo":{"mem_free_kb":3250000},"unknown":1.5}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d["last_heartbeat"].(interface{ Unix() int64 }); !ok {
		t.Errorf("last_heartbeat is %T, want a time", d["last_heartbeat"])
	}
	if v, ok := d["meminfo"].(map[string]any)["mem_free_kb"].(int64); !ok || v != 3250000 {
		t.Errorf("mem_free_kb is %T %v, want int64", d["meminfo"].(map[string]any)["mem_free_kb"], v)
	}
	if _, err := DecodeData("node.reboot", []byte(`{"last_heartbeat":"yesterday"}`)); err == nil {
		t.Error("bad time accepted")
	}
}

func TestNativeConditions(t *testing.T) {
	tests := []struct {
		cond   string
		native bool
	}{
		{`window.count() >= 10`, true},
		{`window.count("dns.timeout") > 3 && window.nodes(["dns.timeout", "rpc.timeout"]) >= 2`, true},
		{`window.followed_by(["node.reboot"], ["dns.timeout"]) >= 20 || !(window.events() < 5)`, true},
		{`10 <= window.count()`, true},
		{`true`, true},
		{`window.count() >= 10 && last.node == "x"`, false},
		{`events.size() > 3`, false},
		{`window.after(window.first(["a.b"])).count() > 1`, false},
	}
	for _, tt := range tests {
		set, probs := compileText(t, "rules:\n  - name: r\n    severity: info\n    summary: s\n    match: event.type == \"dns.timeout\"\n    group_by: [event.cluster]\n    window: 1m\n    condition: '"+tt.cond+"'\n", CheckOptions{})
		if len(probs) > 0 {
			t.Fatal(probs)
		}
		if got := set.Rules[0].Native != nil; got != tt.native {
			t.Errorf("%s: native %v, want %v", tt.cond, got, tt.native)
		}
	}
}

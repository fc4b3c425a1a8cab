package rule

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
)

func TestAgentsOnly(t *testing.T) {
	env, err := cel.NewEnv(append(exposureFunctions(),
		cel.Variable("pods", cel.DynType),
		cel.Variable("agents", cel.ListType(cel.MapType(cel.StringType, cel.StringType))))...)
	if err != nil {
		t.Fatal(err)
	}
	ast, iss := env.Compile(`agents_only(pods, agents)`)
	if iss.Err() != nil {
		t.Fatal(iss.Err())
	}
	prg, err := env.Program(ast)
	if err != nil {
		t.Fatal(err)
	}
	agents := []map[string]string{
		{"namespace": "kube-system", "prefix": "kube-proxy-"},
		{"namespace": "", "prefix": "node-exporter-"},
		{"namespace": "aftershock", "prefix": ""},
	}
	pod := func(ns, name string) map[string]any { return map[string]any{"namespace": ns, "name": name, "uid": "u"} }
	tests := []struct {
		name string
		pods any
		want bool
	}{
		{"only agents", []any{pod("kube-system", "kube-proxy-x2x4z"), pod("monitoring", "node-exporter-8d2kq"), pod("aftershock", "collector-7qz4d")}, true},
		{"a workload left", []any{pod("kube-system", "kube-proxy-x2x4z"), pod("kube-system", "coredns-5c98db65d4-q7wzt")}, false},
		{"prefix in the wrong namespace", []any{pod("default", "kube-proxy-x2x4z")}, false},
		{"no pods says nothing", []any{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := prg.Eval(map[string]any{"pods": tc.pods, "agents": agents})
			if err != nil {
				t.Fatal(err)
			}
			if out.Value() != tc.want {
				t.Fatalf("got %v, want %v", out, tc.want)
			}
		})
	}
	if _, _, err := prg.Eval(map[string]any{"pods": "not a list", "agents": agents}); err == nil {
		t.Fatal("a string of pods: no error")
	}
}

// TestTableCostByItsOwnRows: a loop over a short table is priced by its own
// rows, not by the longest table of the pack (a 200-row table of node
// agents must not make the known-bugs loop of every rule too costly).
func TestTableCostByItsOwnRows(t *testing.T) {
	var long strings.Builder
	long.WriteString("tables:\n  short: [{s: a}, {s: b}]\n  long:\n")
	for i := range 200 {
		fmt.Fprintf(&long, "    - {s: row%d}\n", i)
	}
	rule := "rules:\n  - name: r\n    severity: info\n    summary: s\n    match: event.type == \"node.reboot\"\n    group_by: [event.cluster]\n    window: 1h\n" +
		"    condition: events.exists(e, tables.%s.exists(b, has(e.data.cause_detail) && e.data.cause_detail.contains(b.s)))\n"
	if _, probs := compileText(t, long.String()+fmt.Sprintf(rule, "short"), CheckOptions{}); len(probs) > 0 {
		t.Fatalf("loop over the short table: %v", probs)
	}
	if _, probs := compileText(t, long.String()+fmt.Sprintf(rule, "long"), CheckOptions{}); !strings.Contains(probs.Error(), "exceeds the limit") {
		t.Fatalf("loop over the long table: %v, want a cost problem", probs)
	}
}

func TestKernelMatches(t *testing.T) {
	tests := []struct {
		pattern, kernel string
		want            bool
	}{
		{"", "5.15.0-91-generic", true},
		{`^4\.4\.`, "4.4.0-104-generic", true},
		{`^4\.4\.`, "4.15.0-101-generic", false},
		{`(`, "4.4.0-104-generic", false}, // a bad pattern matches nothing
		{`(`, "4.4.0-104-generic", false}, // and is remembered as bad
	}
	for _, tc := range tests {
		if got := kernelMatches(tc.pattern, tc.kernel); got != tc.want {
			t.Errorf("kernelMatches(%q, %q) = %v, want %v", tc.pattern, tc.kernel, got, tc.want)
		}
	}
}

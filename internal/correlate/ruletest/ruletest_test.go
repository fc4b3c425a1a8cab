package ruletest

import (
	"bytes"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/rule"
)

const rules = `rules:
  - name: storm
    severity: warning
    match: event.type == "dns.timeout"
    group_by: [event.cluster]
    window: 1m
    lateness: 30s
    condition: window.count() >= 5
    summary: '{{ .window.count }} timeouts on {{ .window.nodes }} nodes'
    annotations:
      spread: '{{ if gt .window.nodes 1 }}on several nodes{{ end }}'
  - name: silent
    severity: warning
    match: event.type == "node.heartbeat"
    group_by: [event.cluster, event.node]
    absent_for: 30s
    lateness: 10s
    summary: '{{ .key.node }} silent'
`

func dirWith(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func run(t *testing.T, tests string) ([]Result, string) {
	t.Helper()
	dir := dirWith(t, map[string]string{"r.yaml": rules, "r_test.yaml": tests})
	set, err := rule.LoadDir(dir, rule.CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	res, err := RunDir(dir, set, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	Report(&b, res)
	return res, strings.ReplaceAll(b.String(), dir+"/", "")
}

func TestPassingScenario(t *testing.T) {
	res, out := run(t, `tests:
  - name: storm from repeated events, late one included, then silence
    events:
      - {at: +0s, type: node.heartbeat, node: a}
      - {at: +0s, type: dns.timeout, nodes: [n1, n2], repeat: 2, every: 5s, data: {count: 1}}
      - {at: -20s, type: dns.timeout, node: n3, data: {count: 1}}
      - tick: +50s
    expect:
      - {rule: storm, at: +5s, labels: {cluster: test}, summary: 5 timeouts on 3 nodes}
      - {rule: silent, at: +30s, labels: {node: a}, summary: a silent}
`)
	if len(res) != 1 || !res[0].Passed() {
		t.Fatalf("want a pass:\n%s", out)
	}
}

func TestFailureDiff(t *testing.T) {
	res, out := run(t, `tests:
  - name: wrong expectations
    events:
      - {at: +0s, type: dns.timeout, repeat: 5, every: 1s, data: {count: 1}}
      - {at: +0s, type: node.heartbeat, node: a}
      - tick: +2m
    rules: [storm]
    expect:
      - {rule: storm, at: +3s, summary_contains: [7 timeouts]}
`)
	if len(res) != 1 || res[0].Passed() {
		t.Fatalf("want a failure:\n%s", out)
	}
	for _, want := range []string{
		"FAIL  r_test.yaml:2: wrong expectations",
		"- missing:    rule=storm state=firing at=+3s",
		"closest:  rule=storm state=firing at=+4s",
		"at is +4s, want +3s",
		`summary "5 timeouts on 1 nodes" lacks "7 timeouts"`,
		"+ unexpected: rule=storm state=resolved at=+1m0s",
		"1 tests, 1 failed",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "unexpected: rule=silent") {
		t.Errorf("rules: [storm] should hide other rules' alerts:\n%s", out)
	}
}

func TestExpectedAbsence(t *testing.T) {
	res, out := run(t, `tests:
  - name: four timeouts are not a storm
    events:
      - {at: +0s, type: dns.timeout, repeat: 4, every: 1s, data: {count: 1}}
    expect: []
`)
	if !res[0].Passed() {
		t.Fatalf("want a pass:\n%s", out)
	}
}

func TestBadTestFiles(t *testing.T) {
	tests := []struct{ name, body, want string }{
		{"unknown field", "tests:\n  - name: x\n    evnts: []\n", "field evnts not found"},
		{"unknown rule", "tests:\n  - name: x\n    expect:\n      - {rule: nope}\n", "r_test.yaml:4: no rule \"nope\""},
		{"bad time", "tests:\n  - name: x\n    events:\n      - {at: soon, type: dns.timeout}\n", "time \"soon\""},
		{"event without at", "tests:\n  - name: x\n    events:\n      - {type: dns.timeout}\n", "r_test.yaml:4: event dns.timeout needs at"},
		{"tick in a drill", "tests:\n  - name: x\n    drill: true\n    events:\n      - {tick: +1m}\n", "tick advances the live clock only"},
		{"bad state", "tests:\n  - name: x\n    expect:\n      - {rule: storm, state: on}\n", "state \"on\""},
		{"invalid event", "tests:\n  - name: x\n    events:\n      - {at: +0s, type: NotAType}\n", "invalid attribute: type"},
		{"syntax error on the first line", "tests: x: y\n", "r_test.yaml:1: mapping values are not allowed"},
		{"syntax error further down", "tests:\n  - name: x\n    events: [\n", "r_test.yaml:3: did not find expected node content"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := dirWith(t, map[string]string{"r.yaml": rules, "r_test.yaml": tt.body})
			set, err := rule.LoadDir(dir, rule.CheckOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = RunDir(dir, set, slog.New(slog.NewTextHandler(io.Discard, nil)))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

// TestEmptyTestFile: a test file with no document yet (new, or all
// commented out) holds no tests; it is not an error.
func TestEmptyTestFile(t *testing.T) {
	for name, body := range map[string]string{"empty": "", "only comments": "# tests:\n#   - name: later\n"} {
		t.Run(name, func(t *testing.T) {
			res, out := run(t, body)
			if len(res) != 0 {
				t.Fatalf("%d results from an empty file:\n%s", len(res), out)
			}
		})
	}
}

// TestAnnotationExpectations: an annotation expected as "" must be absent
// (a substring "" would always match).
func TestAnnotationExpectations(t *testing.T) {
	for _, tt := range []struct {
		name, want string
		pass       bool
	}{
		{"absent as asked", `""`, true},
		{"substring missing", `several`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, out := run(t, `tests:
  - name: a few timeouts
    events:
      - {at: +0s, type: dns.timeout, repeat: 5, every: 1s, data: {count: 1}}
    rules: [storm]
    expect:
      - {rule: storm, at: +4s, annotations: {spread: `+tt.want+`}}
`)
			if res[0].Passed() != tt.pass {
				t.Fatalf("passed %v, want %v:\n%s", res[0].Passed(), tt.pass, out)
			}
		})
	}
	res, out := run(t, `tests:
  - name: timeouts on two nodes
    events:
      - {at: +0s, type: dns.timeout, nodes: [n1, n2], repeat: 3, every: 1s, data: {count: 1}}
    rules: [storm]
    expect:
      - {rule: storm, at: +2s, annotations: {spread: ""}}
`)
	if res[0].Passed() || !strings.Contains(out, `annotation spread is "on several nodes", want none`) {
		t.Fatalf("want a failure naming the annotation:\n%s", out)
	}
}

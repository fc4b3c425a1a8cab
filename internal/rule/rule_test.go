package rule

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeRules(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestProblemsCarryFileAndLine(t *testing.T) {
	tests := []struct {
		name string
		body string
		want string // substring, including file:line
	}{
		{"unknown field", "rules:\n  - name: a\n    severity: info\n    matchh: true\n", "a.yaml:4: field matchh not found"},
		{"bad duration", "rules:\n  - name: a\n    window: 5 minutes\n", "a.yaml:3:"},
		{"cel syntax", "rules:\n  - name: a\n    severity: info\n    summary: s\n    match: event.type ==\n", "a.yaml:5: rule \"a\": match:"},
		{"cel type", "rules:\n  - name: a\n    severity: info\n    summary: s\n    match: '\"x\"'\n", "a.yaml:5: rule \"a\": match: must be bool"},
		{"bad severity", "rules:\n  - name: a\n    severity: loud\n    summary: s\n    match: 'true'\n", "a.yaml:3: rule \"a\": unknown severity"},
		{"bad template", "rules:\n  - name: a\n    severity: info\n    match: 'true'\n    summary: '{{ .x'\n", "a.yaml:5: rule \"a\": summary:"},
		{"missing match", "rules:\n  - name: a\n    severity: info\n    summary: s\n", "a.yaml:2: rule \"a\": match is required"},
		{"since on an absence", "rules:\n  - name: a\n    severity: info\n    summary: s\n    match: 'true'\n    group_by: [event.node]\n    absent_for: 1m\n    since: event.time\n",
			"a.yaml:8: rule \"a\": since applies to window and event rules only"},
		{"since on an event, not a timestamp", "rules:\n  - name: a\n    severity: info\n    summary: s\n    match: 'true'\n    since: event.type\n", "a.yaml:6: rule \"a\": since:"},
		{"since on an event reads no window", "rules:\n  - name: a\n    severity: info\n    summary: s\n    match: 'true'\n    since: window.first([])\n", "a.yaml:6: rule \"a\": since:"},
	}
	env, err := NewEnv()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeRules(t, map[string]string{"a.yaml": tt.body})
			pack, probs, err := ReadDir(dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(probs) == 0 {
				_, probs = Compile(env, pack, CheckOptions{})
			}
			got := strings.ReplaceAll(probs.Error(), dir+string(filepath.Separator), "")
			if !strings.Contains(got, tt.want) {
				t.Fatalf("problems:\n%s\nwant one containing %q", got, tt.want)
			}
		})
	}
}

func TestDuplicateNamesAcrossFiles(t *testing.T) {
	one := "rules:\n  - name: same\n    severity: info\n    match: 'true'\n    summary: s\n"
	dir := writeRules(t, map[string]string{"a.yaml": one, "b.yaml": "# b\n" + one, "b_test.yaml": "not: rules", "routing.yaml": "x: y"})
	_, probs, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(probs) != 1 || !strings.HasSuffix(probs[0].Pos, "b.yaml:3") || !strings.Contains(probs[0].Msg, "duplicate rule name") {
		t.Fatalf("problems = %v", probs)
	}
}

func TestUnknownReceiver(t *testing.T) {
	body := "rules:\n  - name: a\n    severity: info\n    match: 'true'\n    summary: s\n    receivers: [slack-oncall, nope]\n"
	dir := writeRules(t, map[string]string{"a.yaml": body})
	pack, _, err := ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := NewEnv()
	_, probs := Compile(env, pack, CheckOptions{Receivers: []string{"console", "slack-oncall"}})
	if len(probs) != 1 || !strings.Contains(probs[0].Error(), `a.yaml:6: rule "a": unknown receiver "nope"`) {
		t.Fatalf("problems = %v", probs)
	}
}

func TestVersionIsContentHashOutsideGit(t *testing.T) {
	dir := writeRules(t, map[string]string{"a.yaml": "rules: []\n"})
	v1 := Version(dir)
	if err := os.WriteFile(filepath.Join(dir, "a.yaml"), []byte("rules: []\n# changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	v2 := Version(dir)
	if !strings.HasPrefix(v1, "sha256:") || v1 == v2 {
		t.Fatalf("versions %q then %q", v1, v2)
	}
}

// TestSignificantTypes: a significant value is re-evaluated only for
// events of the types it names, so a burst of timeouts after a crash costs
// no CEL per event; a value that names none is evaluated for every event.
func TestSignificantTypes(t *testing.T) {
	set, err := LoadDir("../../rules", CheckOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var crash *Compiled
	for _, c := range set.Rules {
		if c.Name == "node-crash" {
			crash = c
		}
	}
	got := map[string]string{}
	for _, s := range crash.SignificantValues {
		got[s.Value] = strings.Join(s.Types, ",")
	}
	want := map[string]string{"causes": "node.reboot", "known_bugs": "node.reboot", "crashed": "aftershock.alert,node.reboot"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("significant types %v, want %v", got, want)
	}
}

// TestTemplatesInTheTeamsZone: `when` and `local` show times in the
// routing's time_zone (beside UTC for when); without one, in UTC.
func TestTemplatesInTheTeamsZone(t *testing.T) {
	sh, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2020, 6, 14, 5, 14, 30, 0, time.UTC)
	for _, tt := range []struct {
		loc  *time.Location
		want string
	}{
		{sh, "2020-06-14 13:14:30 CST (05:14:30 UTC) | 2020-06-14 13:14:30 CST"},
		{nil, "2020-06-14 05:14:30 UTC | 2020-06-14 05:14:30 UTC"},
	} {
		tpl, err := parseTemplate("t", "{{ when .t }} | {{ local .t }}", tt.loc)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := tpl.Execute(&b, map[string]any{"t": at}); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("zone %v: %q, want %q", tt.loc, b.String(), tt.want)
		}
	}
}

// TestNumberFunctions: numbers from event data (JSON floats, CEL ints)
// read as people say them.
func TestNumberFunctions(t *testing.T) {
	for _, tt := range []struct {
		tpl  string
		v    any
		want string
	}{
		{"{{ seconds .v }}", 864294.8, "10d0h"},
		{"{{ seconds .v }}", int64(362), "6m2s"},
		{"{{ seconds .v }}", 42, "42s"},
		{"{{ kib .v }}", int64(12860000), "12.3 GiB"},
		{"{{ pct .v 200 }}", 50, "25%"},
	} {
		tpl, err := parseTemplate("t", tt.tpl, nil)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		if err := tpl.Execute(&b, map[string]any{"v": tt.v}); err != nil {
			t.Fatal(err)
		}
		if b.String() != tt.want {
			t.Errorf("%s with %v: %q, want %q", tt.tpl, tt.v, b.String(), tt.want)
		}
	}
}

package route

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
)

const goodRouting = `resolve_timeout: 12h
route:
  receiver: console
  group_by: [rule, cluster]
  routes:
    - matchers: ['severity="critical"']
      receiver: oncall
      group_wait: 0s
      continue: true
    - matchers: ['severity=~"critical|warning"', 'team!=db']
      receiver: sre
      group_by: ["..."]
      repeat_interval: 1d
    - matchers: [team=db]
      receiver: hooks
      send_resolved: false
receivers:
  - name: oncall
    slack:
      token: {env: SLACK_TOKEN}
      channel: "#oncall"
  - name: sre
    drills: true
    rate_limit: {messages: 10, per: 1m}
    wecom:
      key: {file: /run/secrets/wecom}
      mention_mobiles: ["13800000000"]
  - name: hooks
    timeout: 3s
    retry: {initial: 100ms, max: 2s, max_elapsed: 1m}
    webhook:
      url: {env: HOOK_URL}
      hmac_secret: {env: HOOK_SECRET}
inhibit_rules:
  - source_matchers: ['rule=~"node-(down|crash)"']
    target_matchers: ['type=~"dns.timeout|rpc.timeout"']
    equal: [cluster, node]
`

func TestParseGood(t *testing.T) {
	r, probs := Parse("routing.yaml", []byte(goodRouting))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if r.ResolveTimeout != 12*time.Hour {
		t.Errorf("resolve timeout %s", r.ResolveTimeout)
	}
	if got := r.ReceiverNames(); !slices.Equal(got, []string{"oncall", "sre", "hooks", "console"}) {
		t.Errorf("receivers %v (console is implicit and last)", got)
	}
	if !r.Receiver("console").TakesDrills() || r.Receiver("oncall").TakesDrills() || !r.Receiver("sre").TakesDrills() {
		t.Error("drills defaults: console yes, others only when set")
	}
	if n, per := r.Receiver("oncall").Rate(); n != 1 || per != time.Second {
		t.Errorf("slack default rate %d/%s", n, per)
	}
	if n, per := r.Receiver("sre").Rate(); n != 10 || per != time.Minute {
		t.Errorf("configured rate %d/%s", n, per)
	}
	if i, m, e := r.Receiver("hooks").RetryBounds(); i != 100*time.Millisecond || m != 2*time.Second || e != time.Minute {
		t.Errorf("retry %s %s %s", i, m, e)
	}
	if r.Receiver("sre").WeCom.URL != DefaultWeComURL || r.Receiver("oncall").Slack.APIURL != DefaultSlackAPIURL {
		t.Error("URL defaults not applied")
	}
	crit := r.Root.Routes[0]
	if crit.GroupWait != 0 || crit.GroupInterval != DefaultGroupInterval || !slices.Equal(crit.GroupBy, []string{"rule", "cluster"}) {
		t.Errorf("inheritance: %+v", crit)
	}
	if sre := r.Root.Routes[1]; !sre.GroupByAll || sre.RepeatInterval != 24*time.Hour || sre.GroupWait != DefaultGroupWait {
		t.Errorf("sre route %+v", sre)
	}
	if len(r.Inhibit) != 1 || len(r.Inhibit[0].Equal) != 2 {
		t.Errorf("inhibit %+v", r.Inhibit)
	}
}

func TestMatch(t *testing.T) {
	r, probs := Parse("routing.yaml", []byte(goodRouting))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   []string
	}{
		{"critical continues to the next match", map[string]string{"severity": "critical"}, []string{"oncall", "sre"}},
		{"critical db stops at oncall, then db", map[string]string{"severity": "critical", "team": "db"}, []string{"oncall", "hooks"}},
		{"warning", map[string]string{"severity": "warning"}, []string{"sre"}},
		{"info falls back to the root", map[string]string{"severity": "info"}, []string{"console"}},
		{"regexp is anchored", map[string]string{"severity": "critical-ish"}, []string{"console"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, rt := range r.Root.Match(tt.labels) {
				got = append(got, rt.Receiver)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseProblems(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown field", "route:\n  receiver: console\n  group_wiat: 1s\n", "routing.yaml:3: field group_wiat not found"},
		{"bad duration", "route:\n  receiver: console\n  group_wait: soon\n", `routing.yaml:3: invalid duration "soon"`},
		{"unknown receiver", "route:\n  receiver: console\n  routes:\n    - receiver: nobody\n", `routing.yaml:4: unknown receiver "nobody"`},
		{"bad matcher", "route:\n  receiver: console\n  routes:\n    - receiver: console\n      matchers: [\"sev~~x\"]\n", "routing.yaml:5: matcher"},
		{"bad regexp", "route:\n  receiver: console\n  routes:\n    - matchers: ['a=~\"(\"']\n", "routing.yaml:4: matcher"},
		{"missing root", "receivers: []\n", "route: missing"},
		{"root matchers", "route:\n  receiver: console\n  matchers: [a=b]\n", "root matches every alert"},
		{"repeat shorter than interval", "route:\n  receiver: console\n  group_interval: 1h\n  repeat_interval: 5m\n", "routing.yaml:4: repeat_interval 5m0s is shorter"},
		{"two kinds", "route: {receiver: x}\nreceivers:\n  - name: x\n    console: {}\n    webhook: {url: {env: U}}\n", "routing.yaml:3: receiver \"x\": set exactly one"},
		{"duplicate receiver", "route: {receiver: x}\nreceivers:\n  - name: x\n    console: {}\n  - name: x\n    console: {}\n", `routing.yaml:5: duplicate receiver "x"`},
		{"literal secret is not a field", "route: {receiver: x}\nreceivers:\n  - name: x\n    webhook: {url: \"https://h/x?token=abc\"}\n", "routing.yaml:4: a secret is never written in the routing file"},
		{"unknown secret field", "route: {receiver: x}\nreceivers:\n  - name: x\n    webhook: {url: {value: abc}}\n", "routing.yaml:4: field value not found in secret"},
		{"secret env and file", "route: {receiver: x}\nreceivers:\n  - name: x\n    webhook: {url: {env: U, file: /f}}\n", "routing.yaml:4: receiver \"x\": url: set env or file, not both"},
		{"wecom key in url", "route: {receiver: x}\nreceivers:\n  - name: x\n    wecom: {url: \"https://q/send?key=abc\", key: {env: K}}\n", "routing.yaml:4: receiver \"x\": url must not hold the key"},
		{"slack token without channel", "route: {receiver: x}\nreceivers:\n  - name: x\n    slack: {token: {env: T}}\n", "needs a channel"},
		{"slack both modes", "route: {receiver: x}\nreceivers:\n  - name: x\n    slack: {token: {env: T}, webhook_url: {env: W}, channel: c}\n", "not both"},
		{"bad name", "route: {receiver: x}\nreceivers:\n  - name: \"a b\"\n    console: {}\n", `routing.yaml:3: receiver name "a b"`},
		{"bad rate", "route: {receiver: x}\nreceivers:\n  - name: x\n    rate_limit: {messages: 0, per: 1s}\n    console: {}\n", "routing.yaml:4: rate_limit"},
		{"bad retry", "route: {receiver: x}\nreceivers:\n  - name: x\n    retry: {initial: 10s, max: 1s}\n    console: {}\n", "routing.yaml:4: retry"},
		{"inhibit without target", "route: {receiver: console}\ninhibit_rules:\n  - source_matchers: [a=b]\n", "routing.yaml:3: inhibit rule: needs"},
		{"bad group_by", "route:\n  receiver: console\n  group_by: [cluster, \"not-a-label\"]\n", `routing.yaml:3: group_by: invalid label name "not-a-label"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, probs := Parse("routing.yaml", []byte(tt.yaml))
			if len(probs) == 0 {
				t.Fatalf("no problem reported, want %q", tt.want)
			}
			if !strings.Contains(probs.Error(), tt.want) {
				t.Errorf("problems:\n%s\nwant one containing %q", probs, tt.want)
			}
		})
	}
}

func TestLoadDirAndDefault(t *testing.T) {
	dir := t.TempDir()
	r, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if r.Root.Receiver != "console" || r.Root.GroupWait != 0 || !r.Root.GroupByAll {
		t.Errorf("default routing %+v", r.Root)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte(goodRouting), 0o644); err != nil {
		t.Fatal(err)
	}
	names, err := ReceiverNames(dir)
	if err != nil || len(names) != 4 {
		t.Fatalf("ReceiverNames = %v, %v", names, err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("route: {receiver: ghost}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Load(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, FileName)+":1: unknown receiver") {
		t.Fatalf("Load error %v", err)
	}
}

func TestSecrets(t *testing.T) {
	const value = "xoxb-very-secret"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TOKEN": value}
	tests := []struct {
		name, wantErr string
		ref           SecretRef
	}{
		{"env", "", SecretRef{Env: "TOKEN"}},
		{"file, trailing newline trimmed", "", SecretRef{File: file}},
		{"unset env", "$NOPE: environment variable is empty or unset", SecretRef{Env: "NOPE"}},
		{"missing file", "no such file", SecretRef{File: file + ".missing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := tt.ref.Resolve(func(k string) string { return env[k] })
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || s.Reveal() != value {
				t.Fatalf("resolve = %q, %v", s.Reveal(), err)
			}
			var logged strings.Builder
			slog.New(slog.NewTextHandler(&logged, nil)).Info("x", "secret", s)
			js, _ := json.Marshal(struct{ S Secret }{s})
			for _, out := range []string{fmt.Sprint(s), fmt.Sprintf("%v %s %#v", s, s, s), logged.String(), string(js)} {
				if strings.Contains(out, value) {
					t.Errorf("secret printed: %s", out)
				}
			}
		})
	}
}

func TestLabels(t *testing.T) {
	a := &alert.Alert{Rule: "node-crash", Severity: "critical", Labels: map[string]string{"node": "n1"}}
	got := Labels(a)
	if got["rule"] != "node-crash" || got["severity"] != "critical" || got["node"] != "n1" {
		t.Fatalf("labels %v", got)
	}
	a.Labels["severity"] = "page"
	if Labels(a)["severity"] != "page" {
		t.Fatal("an alert's own label wins")
	}
}

func TestMatcher(t *testing.T) {
	tests := []struct {
		in    string
		value string
		want  bool
	}{
		{`node="n1"`, "n1", true},
		{`node=n1`, "n1", true},
		{`node!="n1"`, "n1", false},
		{`node=~"n[0-9]+"`, "n12", true},
		{`node=~"n[0-9]"`, "n12", false},
		{`node!~"n.*"`, "m1", true},
		{`node=""`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			m, err := ParseMatcher(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got := m.Matches(map[string]string{"node": tt.value}); got != tt.want {
				t.Errorf("%s on %q = %v", m, tt.value, got)
			}
			back, err := ParseMatcher(m.String())
			if err != nil || back.String() != m.String() {
				t.Errorf("round trip %q -> %v %v", m, back, err)
			}
		})
	}
	for _, bad := range []string{"", "=x", "node", "no de=x", `node="unterminated`, "node=~(", "node<>x"} {
		if _, err := ParseMatcher(bad); err == nil {
			t.Errorf("ParseMatcher(%q) accepted", bad)
		}
	}
}

// TestDestinations: the tree's receivers, then the rule's own (timed by
// the first route), each once; drills only to receivers that take them, or
// else the console; receivers the file does not define come back apart.
func TestDestinations(t *testing.T) {
	r, probs := Parse("routing.yaml", []byte(`route:
  receiver: team
  routes:
    - {matchers: [severity=critical], receiver: pager, continue: true}
    - {matchers: [severity=critical], receiver: team}
receivers:
  - {name: team, drills: true, webhook: {url: {env: X}}}
  - {name: pager, webhook: {url: {env: X}}}
`))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	names := func(ds []Destination) string {
		var out []string
		for _, d := range ds {
			out = append(out, d.Route.ID+":"+d.Receiver)
		}
		return strings.Join(out, " ")
	}
	tests := []struct {
		name        string
		labels      map[string]string
		own         []string
		drill       bool
		want, wantU string
	}{
		{"critical", map[string]string{"severity": "critical"}, nil, false, "0.0:pager 0.1:team", ""},
		{"the rule's own, once", map[string]string{"severity": "critical"}, []string{"team", "pager", "nobody"}, false, "0.0:pager 0.1:team 0.0:team", "nobody"},
		{"drill", map[string]string{"severity": "critical"}, nil, true, "0.1:team", ""},
		{"a drill nobody takes", map[string]string{"severity": "warning"}, []string{"pager"}, true, "0:team", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ds, unknown := r.Destinations(tt.labels, tt.own, tt.drill)
			if got := names(ds); got != tt.want || strings.Join(unknown, " ") != tt.wantU {
				t.Errorf("got %q unknown %q, want %q unknown %q", got, unknown, tt.want, tt.wantU)
			}
		})
	}
}

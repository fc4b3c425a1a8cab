package prometheus_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/aftershock/aftershock/internal/promcheck"
)

type ruleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestRulesReadMetricsThatExist: every alert reads only metrics the code
// defines, has a severity the routing uses, and says what to do.
func TestRulesReadMetricsThatExist(t *testing.T) {
	b, err := os.ReadFile("aftershock.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var f ruleFile
	if err := yaml.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	known := promcheck.KnownSeries(t, "../..")
	tested, err := os.ReadFile("aftershock.rules_test.yml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range f.Groups {
		for _, r := range g.Rules {
			n++
			for _, m := range promcheck.MetricNames(r.Expr) {
				if !known[m] {
					t.Errorf("%s: metric %s does not exist", r.Alert, m)
				}
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" && s != "info" {
				t.Errorf("%s: severity %q", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: summary and description are required", r.Alert)
			}
			if !strings.Contains(string(tested), "alertname: "+r.Alert+"\n") {
				t.Errorf("%s has no promtool unit test in aftershock.rules_test.yml", r.Alert)
			}
		}
	}
	if n < 8 {
		t.Errorf("only %d rules", n)
	}
}

// TestPromtool runs the real promtool: the rules parse, and their unit
// tests (input series, expected alerts and texts) pass.
func TestPromtool(t *testing.T) {
	promtool := promcheck.Promtool(t)
	for _, args := range [][]string{{"check", "rules", "aftershock.rules.yml"}, {"test", "rules", "aftershock.rules_test.yml"}} {
		out, err := exec.Command(promtool, args...).CombinedOutput()
		if err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

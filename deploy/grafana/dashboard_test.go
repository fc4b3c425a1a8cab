package grafana_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/promcheck"
)

type target struct {
	Expr  string `json:"expr"`
	RefID string `json:"refId"`
}

type panel struct {
	ID          int    `json:"id"`
	Type        string `json:"type"`
	Title       string `json:"title"`
	Description string `json:"description"`
	GridPos     struct {
		H, W, X, Y int
	} `json:"gridPos"`
	Datasource *struct {
		Type, UID string
	} `json:"datasource"`
	Targets []target `json:"targets"`
}

type dashboard struct {
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []struct{ Name, Type string } `json:"list"`
	} `json:"templating"`
}

func load(t *testing.T) dashboard {
	t.Helper()
	b, err := os.ReadFile("aftershock.json")
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("aftershock.json: %v", err)
	}
	return d
}

// TestDashboard: the dashboard is well formed for Grafana (ids unique,
// panels on the 24-column grid without overlap, every query on the
// datasource variable) and covers what issue 14 asks to see.
func TestDashboard(t *testing.T) {
	d := load(t)
	if d.UID == "" || d.Title == "" || d.SchemaVersion < 30 {
		t.Errorf("uid %q title %q schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	if !vars["datasource"] {
		t.Error("no datasource variable: the dashboard would be tied to one Prometheus")
	}
	ids := map[int]bool{}
	type cell struct{ x, y int }
	used := map[cell]string{}
	var titles strings.Builder
	for _, p := range d.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W <= 0 || g.H <= 0 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("%q: gridPos %+v off the 24-column grid", p.Title, g)
		}
		for x := g.X; x < g.X+g.W; x++ {
			for y := g.Y; y < g.Y+g.H; y++ {
				if other, ok := used[cell{x, y}]; ok {
					t.Errorf("%q overlaps %q at %d,%d", p.Title, other, x, y)
					y, x = g.Y+g.H, g.X+g.W
				}
				used[cell{x, y}] = p.Title
			}
		}
		titles.WriteString(strings.ToLower(p.Title) + "\n")
		if p.Type == "row" {
			continue
		}
		if p.Description == "" {
			t.Errorf("%q: no description (what it shows and what to do)", p.Title)
		}
		if p.Datasource == nil || p.Datasource.UID != "${datasource}" || len(p.Targets) == 0 {
			t.Errorf("%q: datasource %+v, %d targets", p.Title, p.Datasource, len(p.Targets))
		}
	}
	for _, want := range []string{"events published by collectors, by type", "consumer lag", "rule evaluation time",
		"rule evaluation errors", "alerts raised by rule", "notifications delivered by receiver", "retries and dead letters",
		"spool depth per node", "spool drops per node", "silent nodes"} {
		if !strings.Contains(titles.String(), want) {
			t.Errorf("no panel for %q", want)
		}
	}
}

// grafanaVars are substituted before the queries are checked.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h", "$collector_job", "aftershock-collector")

// TestDashboardQueries: every query reads only metrics the code defines
// (a renamed metric breaks this test, not a dashboard in production),
// and parses with the real PromQL parser (promtool).
func TestDashboardQueries(t *testing.T) {
	d := load(t)
	known := promcheck.KnownSeries(t, "../..")
	var rules bytes.Buffer
	rules.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	n := 0
	for _, p := range d.Panels {
		for _, tg := range p.Targets {
			expr := grafanaVars.Replace(tg.Expr)
			if strings.Contains(expr, "$") {
				t.Errorf("%q %s: unknown variable in %s", p.Title, tg.RefID, tg.Expr)
			}
			names := promcheck.MetricNames(expr)
			if len(names) == 0 {
				t.Errorf("%q %s: no metric in %s", p.Title, tg.RefID, tg.Expr)
			}
			for _, m := range names {
				if !known[m] {
					t.Errorf("%q %s: metric %s does not exist (grep the code for its definition)", p.Title, tg.RefID, m)
				}
			}
			n++
			fmt.Fprintf(&rules, "      - record: dashboard:q%d\n        expr: %q\n", n, expr)
		}
	}
	promtool := promcheck.Promtool(t)
	f := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(f, rules.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(promtool, "check", "rules", f).CombinedOutput(); err != nil {
		t.Errorf("promtool check rules on the dashboard's %d queries: %v\n%s", n, err, out)
	}
}

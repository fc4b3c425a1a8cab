package router_test

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"

	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/metricdefs"
)

// TestLiveMetrics scrapes a working router: what it exposes passes
// promlint, and every aftershock metric it exposes is one the source scan
// knows, so the dashboard and rule checks (deploy/grafana,
// deploy/prometheus), which trust the scan, see them all.
func TestLiveMetrics(t *testing.T) {
	s := bustest.Server(t)
	console := &bustest.Buffer{}
	r := startRouter(t, s, rulesDir(t), console)
	publish(t, r.Conn().JS, "events.dev.n1.app", "", testEvent("01JMET00000000000000000001", "n1", "metrics", time.Now()))
	bustest.Eventually(t, "alert printed", func() bool { return strings.Contains(console.String(), "metrics") })
	// aftershock_alerts_firing counts ALERT_STATE as the web view has read
	// it back, which may trail the console's print (one CI run scraped
	// before it).
	var text string
	bustest.Eventually(t, "the firing alert in the scrape", func() bool {
		text = metrics(t, r)
		return strings.Contains(text, "\naftershock_alerts_firing{")
	})
	problems, err := promlint.New(strings.NewReader(text)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "aftershock_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
	defs, err := metricdefs.Scan("../..", "aftershock_")
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, d := range defs {
		for _, s := range d.Series() {
			known[s] = true
		}
	}
	seen := 0
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, "aftershock_") {
			continue
		}
		name, _, _ := strings.Cut(line, "{")
		name, _, _ = strings.Cut(name, " ")
		seen++
		if !known[name] {
			t.Errorf("exposed %s is not found by metricdefs.Scan", name)
		}
	}
	for _, want := range []string{"aftershock_jetstream_consumer_pending_messages", "aftershock_router_evaluation_seconds_bucket", "aftershock_alerts_firing"} {
		if !strings.Contains(text, "\n"+want+"{") {
			t.Errorf("%s not exposed", want)
		}
	}
	if seen < 20 {
		t.Errorf("only %d aftershock series exposed:\n%s", seen, text)
	}
}

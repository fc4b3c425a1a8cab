package router_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/bintest"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/router"
	"github.com/aftershock/aftershock/internal/webauth"
)

// incident is a router with the repository's rules and routing on a
// real JetStream, writable through the web endpoints with a token, onto
// which the 2020-06 crash drill is replayed with the nats CLI as the
// runbook says.
type incident struct {
	tb      testing.TB
	r       *router.Router
	natsURL string
	web     string // http://host:port
	token   string
	console *bustest.Buffer
	lines   [][]byte
	sent    int
}

// acceptanceRouting tells the console (which takes drills) of every
// alert at once, so what it does not print was muted.
const acceptanceRouting = `route:
  receiver: console
  group_by: ["..."]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: console
    console: {}
`

const drillDir = "../../deploy/drills/2020-06-fs-h-2582"

func newIncident(tb testing.TB) *incident {
	tb.Helper()
	dir := tb.TempDir()
	files, err := filepath.Glob("../../rules/*.yaml")
	if err != nil || len(files) == 0 {
		tb.Fatalf("rules: %v", err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.yaml") || filepath.Base(f) == "routing.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "routing.yaml"), []byte(acceptanceRouting), 0o644); err != nil {
		tb.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(drillDir, "events.ndjson"))
	if err != nil {
		tb.Fatal(err)
	}
	in := &incident{tb: tb, token: "acceptance-token", console: &bustest.Buffer{},
		lines: bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))}
	srv := bustest.Server(tb)
	in.natsURL = srv.ClientURL()
	in.r, err = router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: in.natsURL}, RulesDir: dir, HTTPAddr: "127.0.0.1:0", Console: in.console,
		StateDir: tb.TempDir(), Web: webauth.Options{Token: in.token},
	}, bustest.Logger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(in.r.Close)
	in.web = "http://" + in.r.HTTPAddr()
	return in
}

// replayUntil replays the drill's next lines, up to the first event at
// or after until (UTC, RFC 3339), with the nats CLI.
func (in *incident) replayUntil(until string) {
	in.tb.Helper()
	var part []byte
	for in.sent < len(in.lines) && eventTime(in.lines[in.sent]) < until {
		part = append(part, in.lines[in.sent]...)
		in.sent++
	}
	cmd := exec.Command(bustest.NATSCLI(in.tb), "--server", in.natsURL, "pub", "drill.events.tke-prod.replay.app",
		"--send-on", "newline", "--no-templates", "--jetstream", "--quiet")
	cmd.Stdin = bytes.NewReader(part)
	if out, err := cmd.CombinedOutput(); err != nil {
		in.tb.Fatalf("nats pub: %v\n%s", err, out)
	}
}

func eventTime(line []byte) string {
	_, after, _ := bytes.Cut(line, []byte(`"time":"`))
	t, _, _ := bytes.Cut(after, []byte(`"`))
	return string(t)
}

// apiAlerts reads /api/v2/alerts with query.
func (in *incident) apiAlerts(query string) []map[string]any {
	in.tb.Helper()
	resp, err := http.Get(in.web + "/api/v2/alerts?" + query)
	if err != nil {
		in.tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		in.tb.Fatal(err)
	}
	return out
}

func (in *incident) amtool(args ...string) string {
	in.tb.Helper()
	home := in.tb.TempDir()
	cfg := filepath.Join(home, "http.yml")
	if err := os.WriteFile(cfg, []byte("authorization:\n  credentials: "+in.token+"\n"), 0o600); err != nil {
		in.tb.Fatal(err)
	}
	cmd := exec.Command(bintest.Build(in.tb, "github.com/prometheus/alertmanager/cmd/amtool"),
		append([]string{"--alertmanager.url=" + in.web, "--http.config.file=" + cfg}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		in.tb.Fatalf("amtool %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// routerCLI runs the real router binary's subcommands against the NATS.
func (in *incident) routerCLI(args ...string) string {
	in.tb.Helper()
	cmd := exec.Command(bintest.Build(in.tb, "./router"), append(args, "--nats", in.natsURL)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		in.tb.Fatalf("router %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestIncidentAcceptance is issue 14's acceptance on a replayed crash
// drill: amtool lists the node-crash alert, a silence added with amtool
// mutes a follow-up alert (the API says so, the console never prints
// it) and `router silence list` shows the silence.
func TestIncidentAcceptance(t *testing.T) {
	in := newIncident(t)
	// The drill up to the middle of the CoreDNS outage: node-crash fires.
	in.replayUntil("2020-06-15T15")
	bustest.Eventually(t, "node-crash in the Alertmanager API", func() bool {
		return len(in.apiAlerts("filter=alertname%3Dnode-crash")) == 1
	})
	if out := in.amtool("alert", "query", "alertname=node-crash"); !strings.Contains(out, "node 172.21.128.138 crashed") {
		t.Fatalf("amtool alert query lacks the crash:\n%s", out)
	}

	// The on-call engineer silences the next node's noise ahead of its
	// maintenance; the drill goes on to that node's crash.
	id := strings.TrimSpace(in.amtool("silence", "add", "--author", "oncall", "--comment", "maintenance of .124", "--duration", "1h", `node="172.21.128.124"`))
	if list := in.routerCLI("silence", "list"); !strings.Contains(list, id) || !strings.Contains(list, "maintenance of .124") {
		t.Fatalf("router silence list lacks %s:\n%s", id, list)
	}
	bustest.Eventually(t, "the router watched the silence", func() bool {
		return strings.Contains(metrics(t, in.r), "\naftershock_silences 1\n")
	})
	in.replayUntil("2020-06-16")
	bustest.Eventually(t, "the follow-up alert of .124 fired and is silenced", func() bool {
		as := in.apiAlerts("filter=alertname%3Dnode-reboot-unclean&filter=" + `node%3D%22172.21.128.124%22`)
		if len(as) != 1 {
			return false
		}
		st := as[0]["status"].(map[string]any)
		sb, _ := st["silencedBy"].([]any)
		return st["state"] == "suppressed" && len(sb) == 1 && sb[0] == id
	})
	if out := in.amtool("alert", "query"); strings.Contains(out, "172.21.128.124 rebooted") {
		t.Errorf("amtool lists the silenced alert as active:\n%s", out)
	}
	if out := in.amtool("alert", "query", "--silenced"); !strings.Contains(out, "172.21.128.124 rebooted") {
		t.Errorf("amtool --silenced lacks the follow-up alert:\n%s", out)
	}
	// The console takes drills and is told at once: the fleet alert of
	// the same moment is printed, the silenced node's alerts are not.
	bustest.Eventually(t, "the silence counted as muting", func() bool {
		return !strings.Contains(metrics(t, in.r), `aftershock_lifecycle_muted_total{by="silence"} 0`) &&
			strings.Contains(metrics(t, in.r), `aftershock_lifecycle_muted_total{by="silence"}`) &&
			strings.Contains(in.console.String(), "unclean reboots on 3 nodes")
	})
	if strings.Contains(in.console.String(), "172.21.128.124 rebooted") {
		t.Errorf("the silenced alert was notified:\n%s", in.console.String())
	}
}

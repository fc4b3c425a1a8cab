package router_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/notify/slack/slacktest"
	"github.com/aftershock/aftershock/internal/notify/wecom/wecomtest"
	"github.com/aftershock/aftershock/internal/router"
	"github.com/aftershock/aftershock/internal/silence"
)

const notifyRouting = `route:
  receiver: console
  group_by: ["..."]
  group_wait: 0s
  routes:
    - receiver: oncall
      continue: true
    - receiver: sre
receivers:
  - name: oncall
    slack:
      token: {env: TEST_SLACK_TOKEN}
      channel: "#oncall"
      api_url: %SLACK%
  - name: sre
    drills: true
    wecom:
      url: %WECOM%
      key: {env: TEST_WECOM_KEY}
`

// TestNotifyEndToEnd: an event published to EVENTS becomes an alert that
// reaches a fake Slack (bot token, Block Kit) and a fake WeCom robot, with
// the secrets read from the environment; a drill reaches only the receiver
// configured for drills, marked [DRILL].
func TestNotifyEndToEnd(t *testing.T) {
	slack := slacktest.New(t, "xoxb-e2e")
	slackSrv := httptest.NewServer(slack)
	defer slackSrv.Close()
	robot := wecomtest.New(t, "robot-key")
	robotSrv := httptest.NewServer(robot)
	defer robotSrv.Close()

	dir := rulesDir(t)
	routing := strings.NewReplacer("%SLACK%", slackSrv.URL+"/api/", "%WECOM%", robotSrv.URL+wecomtest.Path).Replace(notifyRouting)
	if err := os.WriteFile(filepath.Join(dir, "routing.yaml"), []byte(routing), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"TEST_SLACK_TOKEN": "xoxb-e2e", "TEST_WECOM_KEY": "robot-key"}
	s := bustest.Server(t)
	console := &bustest.Buffer{}
	r, err := router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: s.ClientURL()}, RulesDir: dir, HTTPAddr: "127.0.0.1:0", Console: console,
		StateDir: t.TempDir(), Getenv: func(k string) string { return env[k] },
	}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()

	publish(t, r.Conn().JS, "events.dev.node1.app", "", testEvent("01JE2E0000000000000000001", "node1", "live <!channel>", time.Now()))
	bustest.Eventually(t, "Slack and WeCom receive the alert", func() bool {
		return len(slack.Posts()) == 1 && len(robot.Msgs()) == 1
	})
	if p := slack.Posts()[0]; p.Channel != "#oncall" || !strings.Contains(p.Text, "test event from node1: live &lt;!channel&gt;") {
		t.Errorf("slack post %+v", p)
	}

	publish(t, r.Conn().JS, "drill.events.dev.node1.app", "", testEvent("01JE2E0000000000000000002", "node1", "a drill", time.Now()))
	bustest.Eventually(t, "WeCom receives the drill", func() bool { return len(robot.Msgs()) == 2 })
	if m := robot.Msgs()[1]; !strings.Contains(m.Content, "[DRILL]") || !strings.Contains(m.Content, "a drill") {
		t.Errorf("drill message %q", m.Content)
	}
	// Both receivers' messages are queued in the same step, so the count
	// is final once WeCom has the drill.
	if want := `aftershock_lifecycle_messages_total{kind="page",receiver="oncall"} 1`; !strings.Contains(metrics(t, r), want) {
		t.Errorf("metrics lack %q: the drill must not reach a receiver without drills", want)
	}
	if strings.Contains(console.String(), "live") {
		t.Error("console printed an alert routed elsewhere")
	}
}

// TestRoutingProblemsStopStart: a routing file naming a missing secret
// stops the router at start with the receiver and variable named.
func TestRoutingProblemsStopStart(t *testing.T) {
	dir := rulesDir(t)
	if err := os.WriteFile(filepath.Join(dir, "routing.yaml"), []byte("route: {receiver: hook}\nreceivers:\n  - name: hook\n    webhook: {url: {env: NOT_SET_ANYWHERE}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := bustest.Server(t)
	_, err := router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: s.ClientURL()}, RulesDir: dir, HTTPAddr: "127.0.0.1:0", Console: &bustest.Buffer{},
		StateDir: t.TempDir(), Getenv: func(string) string { return "" },
	}, bustest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "receiver hook: url: secret $NOT_SET_ANYWHERE") {
		t.Fatalf("err %v", err)
	}
}

// TestSilenceOnRouter: a silence added to SILENCES (as `router silence
// add` does) mutes the matching alert on a running router; others pass.
func TestSilenceOnRouter(t *testing.T) {
	s := bustest.Server(t)
	console := &bustest.Buffer{}
	r := startRouter(t, s, rulesDir(t), console)
	kv, err := r.Conn().JS.KeyValue(context.Background(), bus.BucketSilence)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	if err := silence.Add(context.Background(), kv, &silence.Silence{
		Matchers: []string{`node="node1"`}, StartsAt: now.Add(-time.Minute), EndsAt: now.Add(time.Hour),
		CreatedBy: "test", Comment: "maintenance",
	}, now); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "router watched the silence", func() bool {
		return strings.Contains(metrics(t, r), "\naftershock_silences 1\n")
	})
	publish(t, r.Conn().JS, "events.dev.node1.app", "", testEvent("01JSIL0000000000000000001", "node1", "silenced one", time.Now()))
	publish(t, r.Conn().JS, "events.dev.node2.app", "", testEvent("01JSIL0000000000000000002", "node2", "loud one", time.Now()))
	bustest.Eventually(t, "unsilenced alert printed", func() bool { return strings.Contains(console.String(), "loud one") })
	if strings.Contains(console.String(), "silenced one") {
		t.Fatal("silenced alert printed")
	}
}

func metrics(t *testing.T, r *router.Router) string {
	t.Helper()
	resp, err := http.Get("http://" + r.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

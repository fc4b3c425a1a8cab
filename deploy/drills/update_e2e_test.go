package drills_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/notify/slack/slacktest"
	"github.com/aftershock/aftershock/internal/notify/wecom/wecomtest"
	"github.com/aftershock/aftershock/internal/router"
)

// liveRouting is a team's routing as shipped (critical pages at once,
// group_interval 5m), with update_interval short enough for a test.
const liveRouting = `time_zone: Asia/Shanghai
external_url: https://aftershock.example.com
route:
  receiver: console
  group_by: [rule, cluster]
  group_wait: 30s
  group_interval: 5m
  repeat_interval: 4h
  routes:
    - matchers: [severity=critical]
      group_wait: 0s
      update_interval: 2s
      receiver: oncall-slack
      continue: true
    - matchers: [severity=critical]
      group_wait: 0s
      update_interval: 2s
      receiver: oncall-wecom
receivers:
  - name: console
    console: {}
  - name: oncall-slack
    slack: {token: {env: SLACK_TOKEN}, channel: "#oncall", api_url: "%SLACK%/api/"}
  - name: oncall-wecom
    wecom: {url: "%WECOM%", key: {env: WECOM_KEY}, mention_mobiles: ["13800000000"]}
`

// TestCauseReachesPeopleAsAnUpdate is issue 11's acceptance on real
// parts: the late-reboot incident published as live events to a router on
// real JetStream with the repository's rules, fake Slack (bot token) and
// WeCom (with an on-call to mention). The crash pages ("went silent");
// the node's reboot report, published a few seconds later, reaches both
// receivers as an update of that page, long before group_interval (5m):
// the Slack page edited and the cause told in its thread and the channel,
// a WeCom update that mentions nobody again. The delay from the reboot's
// publication to each receiver is logged (measured, not asserted).
func TestCauseReachesPeopleAsAnUpdate(t *testing.T) {
	slackFake, wecomFake := slacktest.New(t, "xoxb-live"), wecomtest.New(t, "live-key")
	slackFake.Links = []string{"https://aftershock.example.com/"}
	ss, ws := httptest.NewServer(slackFake), httptest.NewServer(wecomFake)
	t.Cleanup(ss.Close)
	t.Cleanup(ws.Close)
	dir := rulesCopy(t)
	cfg := strings.NewReplacer("%SLACK%", ss.URL, "%WECOM%", ws.URL+wecomtest.Path).Replace(liveRouting)
	if err := os.WriteFile(filepath.Join(dir, "routing.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"SLACK_TOKEN": "xoxb-live", "WECOM_KEY": "live-key"}
	srv := bustest.Server(t)
	r, err := router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: srv.ClientURL()}, RulesDir: dir, HTTPAddr: "127.0.0.1:0", Console: &bustest.Buffer{},
		StateDir: t.TempDir(), Getenv: func(k string) string { return env[k] },
	}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	js := r.Conn().JS

	lines := drill{"late-reboot", "prod-gz"}.lines(t)
	reboot := lines[len(lines)-1]
	if !bytes.Contains(reboot, []byte(`"type":"node.reboot"`)) {
		t.Fatal("the recording does not end with the reboot report")
	}
	for _, l := range lines[:len(lines)-1] {
		publishLive(t, js, l)
	}
	// Waits are far below group_interval (5m): an update that waited for it
	// would fail them.
	bustest.Eventually(t, "the page at both receivers", func() bool {
		return len(slackFake.Posts()) > 0 && len(wecomFake.Msgs()) > 0
	})
	page := slackFake.Posts()[0]
	if !strings.Contains(page.Text, "went silent") {
		t.Fatalf("the page says %q, want that the node went silent", page.Text)
	}
	time.Sleep(2 * time.Second) // update_interval after the page: no wait is owed
	sent := time.Now()
	publishLive(t, js, reboot)
	var slackAt, wecomAt time.Time
	var edited, broadcast bool
	bustest.Eventually(t, "the cause at both receivers, and the page edited", func() bool {
		for _, p := range slackFake.Posts() {
			if p.ThreadTS == page.TS && strings.Contains(p.Text, "cause found") && slackAt.IsZero() {
				slackAt, broadcast = p.At, p.Broadcast
			}
			edited = edited || p.Update && p.TS == page.TS && strings.Contains(p.Text, "crashed: kernel BUG at include/linux/fs.h:2582!")
		}
		for _, m := range wecomFake.Msgs() {
			if m.Type == "markdown" && strings.Contains(m.Content, "cause found") && wecomAt.IsZero() {
				wecomAt = m.At
			}
		}
		// Slack tells the thread first, then edits the page.
		return !slackAt.IsZero() && !wecomAt.IsZero() && edited
	})
	t.Logf("reboot published → cause in Slack's thread after %s, in WeCom after %s (group_interval 5m)",
		slackAt.Sub(sent).Round(time.Millisecond), wecomAt.Sub(sent).Round(time.Millisecond))
	if shown := slackFake.Shown(); !broadcast || !strings.Contains(shown[0].Text, "not OOM") {
		t.Errorf("Slack: cause broadcast from the thread %v; the channel shows %q", broadcast, shown[0].Text)
	}
	mentions := 0
	for _, m := range wecomFake.Msgs() {
		if m.Type == "text" {
			mentions++
		}
	}
	if mentions != 1 {
		t.Errorf("WeCom mentioned the on-call %d times, want once (the page)", mentions)
	}
}

// publishLive stores one recorded event on its live subject, as its node's
// collector would.
func publishLive(t *testing.T, js jetstream.JetStream, line []byte) {
	t.Helper()
	ev, err := event.Decode(line)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: ev.NATSSubject(false), Data: line}, jetstream.WithMsgID(ev.ID)); err != nil {
		t.Fatal(err)
	}
}

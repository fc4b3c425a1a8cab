package receivers_test

import (
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/receivers"
	"github.com/aftershock/aftershock/internal/route"
)

func TestBuildTargets(t *testing.T) {
	r, probs := route.Parse("routing.yaml", []byte(`route: {receiver: hook}
receivers:
  - name: hook
    webhook: {url: {env: HOOK_URL}, hmac_secret: {env: HOOK_SECRET}}
  - name: broken
    webhook: {url: {env: MISSING_URL}}
`))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	env := map[string]string{"HOOK_URL": "https://example.invalid/hook?token=s3cr3t", "HOOK_SECRET": "hmac-s3cr3t"}
	_, err := receivers.Build(r, receivers.Deps{Getenv: func(k string) string { return env[k] }})
	if err == nil || !strings.Contains(err.Error(), "receiver broken: url: secret $MISSING_URL: environment variable is empty or unset") {
		t.Fatalf("err %v", err)
	}
	env["MISSING_URL"] = "https://example.invalid/other"
	targets, err := receivers.Build(r, receivers.Deps{Getenv: func(k string) string { return env[k] }})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tg := range targets {
		names = append(names, tg.Receiver.Name())
		if tg.Drills != (tg.Receiver.Name() == "console") {
			t.Errorf("%s drills %v", tg.Receiver.Name(), tg.Drills)
		}
	}
	if strings.Join(names, ",") != "hook,broken,console" {
		t.Errorf("targets %v", names)
	}
}

// TestSlackParallel: messages overlap only for a Slack receiver whose rate
// limit is not what holds delivery back; with Slack's own limit (one a
// second per channel) they go one at a time, as do other kinds.
func TestSlackParallel(t *testing.T) {
	r, probs := route.Parse("routing.yaml", []byte(`route: {receiver: slack}
receivers:
  - name: slack
    slack: {token: {env: T}, channel: "#a"}
  - name: slack-fast
    rate_limit: {messages: 1000, per: 1s}
    slack: {token: {env: T}, channel: "#b"}
  - name: slack-19
    rate_limit: {messages: 19, per: 1s}
    slack: {token: {env: T}, channel: "#c"}
  - name: hook
    rate_limit: {messages: 1000, per: 1s}
    webhook: {url: {env: T}}
`))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	targets, err := receivers.Build(r, receivers.Deps{Getenv: func(string) string { return "xoxb-1" }})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"slack": 0, "slack-fast": receivers.SlackParallel, "slack-19": 0, "hook": 0, "console": 0}
	for _, tg := range targets {
		if got := tg.Parallel; got != want[tg.Receiver.Name()] {
			t.Errorf("%s: parallel %d, want %d", tg.Receiver.Name(), got, want[tg.Receiver.Name()])
		}
	}
}

package slack_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/notify/notifytest"
	"github.com/aftershock/aftershock/internal/notify/slack"
	"github.com/aftershock/aftershock/internal/notify/slack/slacktest"
)

const token = "xoxb-test-token-value"

var backoff = notify.Backoff{Initial: time.Second, Max: 10 * time.Second, MaxElapsed: 2 * time.Minute}

func newSlack(t *testing.T, fake *slacktest.Server, webhook bool) *slack.Slack {
	t.Helper()
	client, base := notifytest.ServePipe(t, fake, 5*time.Second)
	o := slack.Options{Name: "oncall", Client: client}
	if webhook {
		o.WebhookURL = base + slacktest.WebhookPath
	} else {
		o.Token, o.Channel, o.APIURL = token, "#oncall", base+"/api/"
	}
	s, err := slack.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name       string
		faults     []notifytest.Fault
		wantReason string
		minWait    time.Duration
	}{
		{"ok", nil, "", 0},
		{"500 then recovers", []notifytest.Fault{{Status: 500}, {Status: 503}}, "", 1500 * time.Millisecond},
		{"429 Retry-After honoured", []notifytest.Fault{{Status: 429, RetryAfter: "30"}}, "", 30 * time.Second},
		{"429 without Retry-After backs off", []notifytest.Fault{{Status: 429}}, "", 500 * time.Millisecond},
		{"slow reply, then recovers", []notifytest.Fault{{Delay: time.Minute}}, "", 5 * time.Second},
		{"connection reset, then recovers", []notifytest.Fault{{Reset: true}}, "", 500 * time.Millisecond},
		{"always 503: retries exhausted", repeat(notifytest.Fault{Status: 503}, 200), "http 503", time.Minute},
	}
	for _, webhook := range []bool{false, true} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/webhook=%v", tt.name, webhook), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					fake := slacktest.New(t, token)
					fake.Script = notifytest.NewScript(tt.faults...)
					start := time.Now()
					res := notifytest.DeliverOnce(t, newSlack(t, fake, webhook), notifytest.Message("oncall", "g1", notifytest.CrashAlert("n1")), backoff)
					if took := time.Since(start); took < tt.minWait {
						t.Errorf("outcome after %s, want at least %s", took, tt.minWait)
					}
					checkOutcome(t, fake, res, tt.wantReason)
				})
			})
		}
	}
}

// TestAPIErrors: chat.postMessage answers 200 {"ok":false}; Slack's own
// busy errors are retried, the rest dead-lettered with the error code.
func TestAPIErrors(t *testing.T) {
	tests := []struct {
		code, wantReason string
	}{
		{"ratelimited", ""},
		{"internal_error", ""},
		{"service_unavailable", ""},
		{"channel_not_found", "slack channel_not_found"},
		{"invalid_auth", "slack invalid_auth"},
		{"is_archived", "slack is_archived"},
		{"msg_too_long", "slack msg_too_long"},
		{"invalid_blocks", "slack invalid_blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.code, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := slacktest.New(t, token)
				fake.Script = notifytest.NewScript(notifytest.Fault{Hook: "api:" + tt.code})
				res := notifytest.DeliverOnce(t, newSlack(t, fake, false), notifytest.Message("oncall", "g1", notifytest.CrashAlert("n1")), backoff)
				checkOutcome(t, fake, res, tt.wantReason)
			})
		})
	}
}

func checkOutcome(t *testing.T, fake *slacktest.Server, res notifytest.Result, wantReason string) {
	t.Helper()
	if wantReason == "" {
		if res.Err != nil || len(fake.Posts()) != 1 {
			t.Fatalf("err %v, posts %d; want delivered once", res.Err, len(fake.Posts()))
		}
		return
	}
	if len(res.Dead) != 1 || len(fake.Posts()) != 0 {
		t.Fatalf("dead letters %d, posts %d; want dead-lettered", len(res.Dead), len(fake.Posts()))
	}
	cause := res.Dead[0].Cause
	if _, _, reason := notify.Classify(cause); reason != wantReason {
		t.Errorf("reason %q, want %q", reason, wantReason)
	}
	if strings.Contains(cause.Error(), token) || strings.Contains(cause.Error(), "XXXX") {
		t.Errorf("reason leaks a secret: %v", cause)
	}
}

// TestRetryTables checks Slack's classification tables, Alertmanager
// RetryTests style: every status code, and the API error codes.
func TestRetryTables(t *testing.T) {
	for code := 100; code < 600; code++ {
		want := code == 429 || code >= 500
		if got := slack.RetryableStatus(code); got != want {
			t.Errorf("status %d: retryable %v, want %v", code, got, want)
		}
	}
	for code, want := range map[string]bool{
		"ratelimited": true, "rate_limited": true, "internal_error": true, "fatal_error": true,
		"service_unavailable": true, "request_timeout": true,
		"channel_not_found": false, "not_in_channel": false, "is_archived": false, "msg_too_long": false,
		"no_text": false, "invalid_auth": false, "not_authed": false, "account_inactive": false,
		"token_revoked": false, "invalid_blocks": false, "restricted_action": false,
	} {
		if got := slack.RetryableAPIError(code); got != want {
			t.Errorf("%s: retryable %v, want %v", code, got, want)
		}
	}
}

// TestThread: the group's first message is its one place: a resolve says
// so in its thread and edits it (chat.update, by the channel id Slack
// answered); the reference stays the first message's.
func TestThread(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := slacktest.New(t, token)
		s := newSlack(t, fake, false)
		first := notifytest.DeliverOnce(t, s, notifytest.Message("oncall", "g1", notifytest.CrashAlert("n1")), backoff)
		resolved := notifytest.CrashAlert("n1")
		resolved.State = alert.Resolved
		resolved.EndsAt = resolved.StartsAt.Add(15 * time.Minute)
		m := notifytest.Message("oncall", "g1", resolved)
		m.Ref = first.Ref
		second := notifytest.DeliverOnce(t, s, m, backoff)
		posts := fake.Posts()
		if len(posts) != 3 || posts[0].ThreadTS != "" || first.Ref != slacktest.ChannelID+"/"+posts[0].TS || second.Ref != first.Ref {
			t.Fatalf("posts %+v, refs %q %q", posts, first.Ref, second.Ref)
		}
		if posts[1].ThreadTS != posts[0].TS || posts[1].Broadcast || !posts[2].Update || posts[2].TS != posts[0].TS {
			t.Fatalf("want a quiet thread reply, then an edit of the first message: %+v", posts[1:])
		}
		shown := fake.Shown()
		if posts[0].Channel != "#oncall" || !strings.Contains(shown[0].Text, "RESOLVED") || !strings.Contains(shown[1].Text, "resolved") {
			t.Errorf("channel shows %+v", shown)
		}
	})
}

// TestOldRef: a reference stored by an older router (a bare ts) is edited
// in the configured channel; Slack's refusal is not retried forever.
func TestOldRef(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := slacktest.New(t, token)
		s := newSlack(t, fake, false)
		m := notifytest.Message("oncall", "g1", notifytest.CrashAlert("n1"))
		m.Kind, m.Ref = notify.KindRefresh, "1700000000.000001"
		res := notifytest.DeliverOnce(t, s, m, backoff)
		if res.Err == nil || len(res.Dead) != 1 {
			t.Fatalf("refresh of a message that is not there: %+v", res)
		}
	})
}

// TestInjection: event text that tries to ping, link or format, and huge
// Chinese lines, renders inert and within Slack's limits (the fake checks
// every block).
func TestInjection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := slacktest.New(t, token)
		s := newSlack(t, fake, false)
		a := notifytest.CrashAlert("n1")
		line := strings.Repeat("内核错误：文件系统崩溃，节点重启。", 100) // ~5000 bytes
		a.Summary = "<!channel> <!here> @channel @all <@U123> <https://evil.example|click> *bold* `code` & done"
		a.Details = line + "\n" + line
		a.Annotations = map[string]string{"cause": "<!everyone> " + line}
		ev, _ := event.New("kernel.bug", "test", "prod", "n1", a.StartsAt, map[string]string{"line": "<!channel> ```" + line})
		a.Evidence = append(a.Evidence, *ev)
		if res := notifytest.DeliverOnce(t, s, notifytest.Message("oncall", "g1", a), backoff); res.Err != nil {
			t.Fatal(res.Err)
		}
		p := fake.Posts()[0]
		all := fmt.Sprint(p.Blocks) + p.Text
		for _, want := range []string{"&lt;!channel&gt;", "&lt;https://evil.example|click&gt;", "@\u200bchannel", "&amp; done", "… (truncated)"} {
			if !strings.Contains(all, want) {
				t.Errorf("rendered message lacks %q", want)
			}
		}
	})
}

// TestLimits: a group too big for one message and a digest of many groups
// stay within 50 blocks and say what was left out.
func TestLimits(t *testing.T) {
	big := notifytest.Message("oncall", "g1")
	for i := range 30 {
		big.Firing = append(big.Firing, notifytest.CrashAlert(fmt.Sprintf("n%d", i)))
	}
	digest := &notify.Notification{Receiver: "oncall"}
	for i := range 80 {
		digest.Messages = append(digest.Messages, notifytest.Message("oncall", fmt.Sprintf("g%d", i), notifytest.CrashAlert(fmt.Sprintf("n%d", i))))
	}
	for name, n := range map[string]*notify.Notification{
		"30 alerts":   {Receiver: "oncall", Messages: []*notify.Message{big}},
		"80 groups":   digest,
		"one alert":   {Receiver: "oncall", Messages: []*notify.Message{notifytest.Message("oncall", "g", notifytest.CrashAlert("n"))}},
		"no evidence": {Receiver: "oncall", Messages: []*notify.Message{notifytest.Message("oncall", "g", notifytest.Alert("r", "f", alert.Resolved, nil))}},
	} {
		t.Run(name, func(t *testing.T) {
			blocks, fallback := slack.Renderer{}.Blocks(n)
			p := slacktest.Post{Text: fallback}
			raw, _ := jsonRoundTrip(blocks)
			p.Blocks = raw
			if probs := slacktest.Check(p); len(probs) > 0 {
				t.Fatal(probs)
			}
			if name == "30 alerts" && !strings.Contains(fmt.Sprint(raw), " more alerts:*") {
				t.Error("left-out alerts not mentioned")
			}
			if name == "80 groups" && !strings.Contains(fmt.Sprint(raw), "more groups") {
				t.Error("left-out groups not mentioned")
			}
		})
	}
}

// TestThrottleCoalesces: with Slack's one message per second per channel,
// a burst of ten groups becomes two posts (the first, then a digest of the
// nine that waited), a second apart, and nothing is dropped.
func TestThrottleCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := slacktest.New(t, token)
		client, base := notifytest.ServePipe(t, fake, 5*time.Second)
		s, _ := slack.New(slack.Options{Name: "oncall", Token: token, Channel: "#oncall", APIURL: base + "/api/",
			Client: client, Limiter: notify.NewWindowLimiter(1, time.Second)})
		delivered := make(chan int, 20)
		q := notify.NewQueue(s, notify.QueueOptions{Backoff: backoff, Coalesce: 20, Done: func(n *notify.Notification, _ string, err error) {
			if err != nil {
				t.Error(err)
			}
			delivered <- len(n.Messages)
		}})
		fake.Script = notifytest.NewScript(notifytest.Fault{Delay: 300 * time.Millisecond})
		go q.Run(t.Context())
		q.Enqueue(notifytest.Message("oncall", "g0", notifytest.CrashAlert("n0")))
		synctest.Wait() // g0 is being posted (slowly)
		for i := 1; i < 10; i++ {
			q.Enqueue(notifytest.Message("oncall", fmt.Sprintf("g%d", i), notifytest.CrashAlert(fmt.Sprintf("n%d", i))))
		}
		total := 0
		for total < 10 {
			total += <-delivered
		}
		posts := fake.Posts()
		if len(posts) != 2 {
			t.Fatalf("%d posts, want 2", len(posts))
		}
		if gap := posts[1].At.Sub(posts[0].At); gap < time.Second {
			t.Errorf("posts %s apart, want at least 1s", gap)
		}
		if !strings.Contains(posts[1].Text, "9 alert groups") {
			t.Errorf("digest text %q", posts[1].Text)
		}
	})
}

// TestRealNetwork: the same client over TCP; a reset connection is retried.
func TestRealNetwork(t *testing.T) {
	fake := slacktest.New(t, token)
	fake.Script = notifytest.NewScript(notifytest.Fault{Reset: true})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	s, _ := slack.New(slack.Options{Name: "oncall", Token: token, Channel: "#oncall", APIURL: srv.URL + "/api/", Client: &http.Client{Timeout: 30 * time.Second}})
	res := notifytest.DeliverOnce(t, s, notifytest.Message("oncall", "g1", notifytest.CrashAlert("n1")), notify.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, MaxElapsed: 5 * time.Second})
	if res.Err != nil || len(fake.Posts()) != 1 {
		t.Fatalf("err %v posts %d", res.Err, len(fake.Posts()))
	}
}

func repeat(f notifytest.Fault, n int) []notifytest.Fault {
	out := make([]notifytest.Fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

package wecom_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/notify/notifytest"
	"github.com/aftershock/aftershock/internal/notify/wecom"
	"github.com/aftershock/aftershock/internal/notify/wecom/wecomtest"
)

const key = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa"

var backoff = notify.Backoff{Initial: time.Second, Max: 10 * time.Second, MaxElapsed: 3 * time.Minute}

func newRobot(t *testing.T, fake *wecomtest.Server, o wecom.Options) *wecom.WeCom {
	t.Helper()
	client, base := notifytest.ServePipe(t, fake, 5*time.Second)
	o.Name, o.URL, o.Client = "sre", base+wecomtest.Path, client
	if o.Key == "" {
		o.Key = key
	}
	w, err := wecom.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name       string
		faults     []notifytest.Fault
		wrongKey   bool
		wantReason string
		wantMsgs   int // negative: at least -wantMsgs
		minWait    time.Duration
	}{
		{"ok", nil, false, "", 1, 0},
		{"502 then recovers", []notifytest.Fault{{Status: 502}}, false, "", 1, 500 * time.Millisecond},
		{"429 Retry-After honoured", []notifytest.Fault{{Status: 429, RetryAfter: "20"}}, false, "", 1, 20 * time.Second},
		{"slow reply, then recovers", []notifytest.Fault{{Delay: time.Minute}}, false, "", 1, 5 * time.Second},
		{"connection reset, then recovers", []notifytest.Fault{{Reset: true}}, false, "", 1, 500 * time.Millisecond},
		{"system busy -1, then recovers", []notifytest.Fault{{Hook: "errcode:-1"}}, false, "", 1, 500 * time.Millisecond},
		{"45009 waits, then recovers", []notifytest.Fault{{Hook: "errcode:45009"}}, false, "", 1, wecom.RateLimitWait},
		{"40058 splits and retries", []notifytest.Fault{{Hook: "errcode:40058"}}, false, "", -2, 500 * time.Millisecond},
		{"invalid key 93000 is permanent", nil, true, "errcode 93000", 0, 0},
		{"robot disabled 93004", []notifytest.Fault{{Hook: "errcode:93004"}}, false, "errcode 93004", 0, 0},
		{"unknown errcode is permanent", []notifytest.Fault{{Hook: "errcode:12345"}}, false, "errcode 12345", 0, 0},
		{"always 503: retries exhausted", repeat(notifytest.Fault{Status: 503}, 300), false, "http 503", 0, 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := wecomtest.New(t, key)
				fake.Script = notifytest.NewScript(tt.faults...)
				o := wecom.Options{}
				if tt.wrongKey {
					o.Key = "wrong-key-value"
				}
				start := time.Now()
				res := notifytest.DeliverOnce(t, newRobot(t, fake, o), notifytest.Message("sre", "g1", notifytest.CrashAlert("n1")), backoff)
				if took := time.Since(start); took < tt.minWait {
					t.Errorf("outcome after %s, want at least %s", took, tt.minWait)
				}
				if got := len(fake.Msgs()); got != tt.wantMsgs && (tt.wantMsgs >= 0 || got < -tt.wantMsgs) {
					t.Errorf("robot accepted %d messages, want %d", got, tt.wantMsgs)
				}
				if tt.wantReason == "" {
					if res.Err != nil {
						t.Fatal(res.Err)
					}
					return
				}
				if len(res.Dead) != 1 {
					t.Fatalf("%d dead letters", len(res.Dead))
				}
				cause := res.Dead[0].Cause
				if _, _, reason := notify.Classify(cause); reason != tt.wantReason {
					t.Errorf("reason %q, want %q", reason, tt.wantReason)
				}
				if strings.Contains(cause.Error(), "wrong-key-value") || strings.Contains(cause.Error(), key) {
					t.Errorf("reason leaks the key: %v", cause)
				}
			})
		})
	}
}

func TestRetryTable(t *testing.T) {
	for code, want := range map[int]bool{
		0: false, -1: true, 45009: true, 40058: true, 93000: false, 93004: false, 93008: false,
		40008: false, 44004: false, 40035: false, 12345: false,
	} {
		if got := wecom.Retryable(code); got != want {
			t.Errorf("errcode %d: retryable %v, want %v", code, got, want)
		}
	}
}

// TestOversizeAndInjection: 5000-byte Chinese lines and text that tries to
// mention, link or colour are split into parts of at most 4096 bytes, each
// valid UTF-8, numbered, and rendered inert (the fake checks every part).
func TestOversizeAndInjection(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := wecomtest.New(t, key)
		w := newRobot(t, fake, wecom.Options{})
		a := notifytest.CrashAlert("n1")
		line := strings.Repeat("内核错误：文件系统崩溃，节点重启。", 100) // ~5100 bytes, no newline
		a.Summary = "<@zhangsan> @all <!channel> [click](https://evil.example) <font color=\"warning\">fake</font>"
		a.Details = line + "\n" + line + "\n" + line
		if res := notifytest.DeliverOnce(t, w, notifytest.Message("sre", "g1", a), backoff); res.Err != nil {
			t.Fatal(res.Err)
		}
		msgs := fake.Msgs()
		if len(msgs) < 4 {
			t.Fatalf("%d parts, want at least 4 for ~15 KB", len(msgs))
		}
		var joined strings.Builder
		for i, m := range msgs {
			if len(m.Content) > wecom.MaxMarkdownBytes || !utf8.ValidString(m.Content) {
				t.Errorf("part %d: %d bytes, valid %v", i, len(m.Content), utf8.ValidString(m.Content))
			}
			prefix := fmt.Sprintf("(%d/%d)\n", i+1, len(msgs))
			if !strings.HasPrefix(m.Content, prefix) {
				t.Errorf("part %d does not start with %q", i, prefix)
			}
			joined.WriteString(strings.TrimPrefix(m.Content, prefix))
		}
		if strings.Count(joined.String(), "内核错误") != 300 {
			t.Errorf("text lost in splitting: %d of 300 sentences", strings.Count(joined.String(), "内核错误"))
		}
		if !strings.Contains(joined.String(), "＜@zhangsan＞ @\u200ball") {
			t.Errorf("mention not escaped: %.300s", joined.String())
		}
	})
}

// TestMentionsForCritical: people are @-mentioned once per incident: on
// the page of a critical alert, and again only when another critical alert
// joins the group (an escalation), never for its updates or reminders.
func TestMentionsForCritical(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := wecomtest.New(t, key)
		w := newRobot(t, fake, wecom.Options{MentionMobiles: []string{"13800000000", "@all"}})
		warn := notifytest.CrashAlert("n2")
		warn.Severity = "warning"
		notifytest.DeliverOnce(t, w, notifytest.Message("sre", "g1", warn), backoff)
		crash := notifytest.CrashAlert("n1")
		notifytest.DeliverOnce(t, w, notifytest.Message("sre", "g2", crash), backoff)
		upd := notifytest.Message("sre", "g2", crash)
		upd.Kind, upd.Fresh, upd.News = notify.KindUpdate, nil, map[string][]string{crash.Fingerprint: {"cause found: kernel BUG"}}
		notifytest.DeliverOnce(t, w, upd, backoff)
		rep := notifytest.Message("sre", "g2", crash)
		rep.Kind, rep.Fresh, rep.Repeat = notify.KindRepeat, nil, true
		notifytest.DeliverOnce(t, w, rep, backoff)
		esc := notifytest.Message("sre", "g2", crash, notifytest.CrashAlert("n3"))
		delete(esc.Fresh, crash.Fingerprint) // n1 was told; n3 is new
		notifytest.DeliverOnce(t, w, esc, backoff)
		var kinds []string
		var mentions []string
		for _, m := range fake.Msgs() {
			kinds = append(kinds, m.Type)
			if m.Type == "text" {
				mentions = append(mentions, m.Content)
				if strings.Join(m.Mentions, ",") != "13800000000,@all" {
					t.Errorf("mentions %v", m.Mentions)
				}
			}
		}
		if got := strings.Join(kinds, " "); got != "markdown markdown text markdown markdown markdown text" {
			t.Fatalf("messages %s: want a mention for the critical page and for the escalation only", got)
		}
		if !strings.Contains(mentions[0], "node-crash") || strings.Contains(mentions[1], "n1") || !strings.Contains(mentions[1], "n3") {
			t.Errorf("mention texts %q: the escalation names only the new alert", mentions)
		}
		if md := fake.Msgs()[3].Content; !strings.Contains(md, "🔄 UPDATE") || !strings.Contains(md, "cause found: kernel BUG") {
			t.Errorf("update markdown %q", md)
		}
	})
}

// TestRateLimitCoalesces: a burst of 45 groups against a robot that takes
// 20 messages a minute: our limiter keeps under it (the robot never
// refuses), what waits meanwhile is coalesced into a digest, and every
// alert is delivered. Twenty pages, one at a time, use up the robot's
// minute first, so the rest must wait: which alerts share a notification
// then no longer depends on when the queue happens to wake.
func TestRateLimitCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := wecomtest.New(t, key)
		w := newRobot(t, fake, wecom.Options{Limiter: notify.NewWindowLimiter(20, time.Minute)})
		delivered := make(chan int, 100)
		q := notify.NewQueue(w, notify.QueueOptions{Backoff: backoff, Coalesce: 50, Done: func(n *notify.Notification, _ string, err error) {
			if err != nil {
				t.Error(err)
			}
			delivered <- len(n.Messages)
		}})
		go q.Run(t.Context())
		enqueue := func(i int) {
			q.Enqueue(notifytest.Message("sre", fmt.Sprintf("g%d", i), notifytest.CrashAlert(fmt.Sprintf("node-%02d", i))))
		}
		total, notifications := 0, 0
		for i := range 20 {
			enqueue(i)
			total += <-delivered
			notifications++
		}
		for i := 20; i < 45; i++ {
			enqueue(i)
		}
		for total < 45 {
			total += <-delivered
			notifications++
		}
		all := ""
		for _, m := range fake.Msgs() {
			all += m.Content
		}
		for i := range 45 {
			if !strings.Contains(all, fmt.Sprintf("node-crash on node-%02d", i)) {
				t.Errorf("alert for node-%02d never reached the robot", i)
			}
		}
		if n := fake.Throttled(); n > 0 {
			t.Errorf("the robot refused %d messages (45009): our limiter did not keep its pace", n)
		}
		// The 25 that waited went out in digests: a few notifications
		// (by when the queue took them), not 25.
		if notifications > 30 {
			t.Errorf("%d notifications for 45 alerts: the 25 that waited were not coalesced", notifications)
		}
	})
}

// TestShared45009: someone else uses the same robot, so WeCom answers
// 45009 although we kept our pace: we wait and deliver, nothing dropped.
func TestShared45009(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := wecomtest.New(t, key)
		fake.PerMinute = 2
		w := newRobot(t, fake, wecom.Options{Limiter: notify.NewWindowLimiter(20, time.Minute)})
		for i := range 4 {
			res := notifytest.DeliverOnce(t, w, notifytest.Message("sre", fmt.Sprintf("g%d", i), notifytest.CrashAlert(fmt.Sprint(i))), backoff)
			if res.Err != nil {
				t.Fatal(res.Err)
			}
		}
		if got := len(fake.Msgs()); got != 4 {
			t.Fatalf("%d delivered, want 4", got)
		}
	})
}

func TestRealNetwork(t *testing.T) {
	fake := wecomtest.New(t, key)
	fake.Script = notifytest.NewScript(notifytest.Fault{Reset: true})
	srv := httptest.NewServer(fake)
	defer srv.Close()
	w, err := wecom.New(wecom.Options{Name: "sre", URL: srv.URL + wecomtest.Path, Key: key, Client: &http.Client{Timeout: 30 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	res := notifytest.DeliverOnce(t, w, notifytest.Message("sre", "g1", notifytest.CrashAlert("n1")), notify.Backoff{Initial: 10 * time.Millisecond, Max: 10 * time.Millisecond, MaxElapsed: 5 * time.Second})
	if res.Err != nil || len(fake.Msgs()) != 1 {
		t.Fatalf("err %v msgs %d", res.Err, len(fake.Msgs()))
	}
}

func repeat(f notifytest.Fault, n int) []notifytest.Fault {
	out := make([]notifytest.Fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

// TestBigGroupIsOneMessage: a group of 40 alerts is one message: the
// critical ones first in full, the rest counted by rule, within 4096 bytes.
func TestBigGroupIsOneMessage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := wecomtest.New(t, key)
		w := newRobot(t, fake, wecom.Options{})
		var as []*alert.Alert
		for i := range 40 {
			a := notifytest.CrashAlert(fmt.Sprintf("n%02d", i))
			a.Rule, a.Severity = "node-down", "warning"
			if i == 17 || i == 33 {
				a.Rule, a.Severity = "node-crash", "critical"
			}
			as = append(as, a)
		}
		if res := notifytest.DeliverOnce(t, w, notifytest.Message("sre", "g1", as...), backoff); res.Err != nil {
			t.Fatal(res.Err)
		}
		msgs := fake.Msgs()
		if len(msgs) != 1 || len(msgs[0].Content) > wecom.MaxMarkdownBytes {
			t.Fatalf("%d messages (first %d bytes), want one within 4096 bytes", len(msgs), len(msgs[0].Content))
		}
		md := msgs[0].Content
		first := strings.Index(md, "FIRING CRITICAL")
		if first < 0 || first > strings.Index(md, "FIRING WARNING") || !strings.Contains(md, "**and 37 more**: node-down ×37") {
			t.Errorf("markdown:\n%s", md)
		}
	})
}

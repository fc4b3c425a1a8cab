package router_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/bus/embedded"
	"github.com/aftershock/aftershock/internal/router"
)

// The three defects of issue #17, each reproduced end to end.

// scrape gets /metrics, failing the test when the server does not answer:
// a hang detector with a generous bound, not a speed assertion.
func scrape(tb testing.TB, r *router.Router) string {
	tb.Helper()
	c := &http.Client{Timeout: 15 * time.Second}
	resp, err := c.Get("http://" + r.HTTPAddr() + "/metrics")
	if err != nil {
		tb.Fatalf("/metrics did not answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// counter reads one sample of a metrics text, 0 when absent.
func counter(text, series string) float64 {
	for line := range strings.SplitSeq(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// returnsWithin runs f and fails the test when it does not return: the
// reload of a partitioned router used to wait for a lane's lock.
func returnsWithin(tb testing.TB, what string, f func()) {
	tb.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		tb.Fatalf("%s did not return", what)
	}
}

// TestScrapeAndReloadDuringPublishOutage: while a partitioned router
// cannot store an alert (ALERTS is gone), /metrics and a reload still
// answer, the retry is visible, and the alert is stored once ALERTS is
// back.
func TestScrapeAndReloadDuringPublishOutage(t *testing.T) {
	s := bustest.Server(t)
	dir := rulesDir(t)
	r, err := router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: s.ClientURL()}, RulesDir: dir, HTTPAddr: "127.0.0.1:0",
		Console: &bustest.Buffer{}, StateDir: t.TempDir(), NoRulesWatch: true,
		Partitions: 1, RouterID: "solo", MemberTTL: 3 * time.Second,
	}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	bustest.Eventually(t, "the partition owned", func() bool { return strings.Join(r.Lanes(), ",") == "p0,drills" })

	c := bustest.Connect(t, s)
	ctx := context.Background()
	if err := c.JS.DeleteStream(ctx, bus.StreamAlerts); err != nil {
		t.Fatal(err)
	}
	publish(t, c.JS, "events.dev.node1.app", "", testEvent("01JOUTAGE00000000000000001", "node1", "during the outage", time.Now()))
	bustest.Eventually(t, "a publish retry seen on /metrics", func() bool {
		return counter(scrape(t, r), `aftershock_router_events_total{outcome="retry"}`) >= 2
	})
	writeFile(t, filepath.Join(dir, "test.yaml"), testRules+`  - name: added-during-outage
    severity: info
    match: event.type == "aftershock.test"
    group_by: [event.node]
    summary: x
`)
	returnsWithin(t, "a reload during the outage", func() {
		if err := r.Reload(ctx); err != nil {
			t.Errorf("reload: %v", err)
		}
	})
	if got := scrape(t, r); counter(got, "aftershock_router_rules_loaded") != 3 {
		t.Fatalf("rules loaded after the reload: %v", counter(got, "aftershock_router_rules_loaded"))
	}

	if _, err := bus.Provision(ctx, c.JS, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "the alert stored once ALERTS is back", func() bool {
		_, err := getLast(c.JS, "alerts.live.pipeline-test")
		return err == nil
	})
}

// TestOversizedAlertIsDeadLettered: an alert the server refuses for good
// (over NATS's max payload, or over the stream's maximum message size) is
// dead-lettered with the reason instead of retried for ever, and the
// events after it are evaluated and their alerts stored.
func TestOversizedAlertIsDeadLettered(t *testing.T) {
	tests := []struct {
		name string
		// server limits the server; stream limits the stream once the
		// router made it.
		server func(*server.Options)
		stream func(*jetstream.StreamConfig)
		reason string
		// cut: the dead letter holds the alert's head within the limit
		// (else all of it: DLQ takes it).
		cut bool
	}{
		{"over the server's max payload", func(o *server.Options) { o.MaxPayload = 8192 }, nil, "maximum payload exceeded", true},
		{"over the stream's max message size", nil, func(c *jetstream.StreamConfig) { c.MaxMsgSize = 8192 }, "message size exceeds maximum", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var adjust []func(*server.Options)
			if tt.server != nil {
				adjust = append(adjust, tt.server)
			}
			s, err := embedded.Start(bus.EmbeddedOptions{StateDir: t.TempDir(), Port: -1}, nil, adjust...)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
			r := startRouter(t, s, rulesDir(t), &bustest.Buffer{})
			js := r.Conn().JS
			if tt.stream != nil {
				st, err := js.Stream(context.Background(), bus.StreamAlerts)
				if err != nil {
					t.Fatal(err)
				}
				cfg := st.CachedInfo().Config
				tt.stream(&cfg)
				if _, err := js.UpdateStream(context.Background(), cfg); err != nil {
					t.Fatal(err)
				}
			}
			big := strings.Repeat("x", 5000) // the event fits, its alert (summary and evidence) does not
			publish(t, js, "events.dev.node1.app", "", testEvent("01JBIG00000000000000000001", "node1", big, time.Now()))
			publish(t, js, "events.dev.node2.app", "", testEvent("01JBIG00000000000000000002", "node2", "small", time.Now()))
			bustest.Eventually(t, "the small alert stored after the oversized one", func() bool {
				m, err := getLast(js, "alerts.live.pipeline-test")
				return err == nil && strings.Contains(string(m.Data), `"node2"`)
			})
			var dl *jetstream.RawStreamMsg
			bustest.Eventually(t, "the oversized alert dead-lettered", func() bool {
				dl, err = getLast(js, "dlq.alerts")
				return err == nil
			})
			if got := dl.Header.Get("Aftershock-Reason"); !strings.Contains(got, tt.reason) {
				t.Errorf("dead letter reason %q, want it to say %q", got, tt.reason)
			}
			if got := dl.Header.Get("Aftershock-Original-Subject"); got != "alerts.live.pipeline-test" {
				t.Errorf("dead letter subject header %q", got)
			}
			if !bytes.HasPrefix(dl.Data, []byte(`{"id":`)) || tt.cut != (len(dl.Data) <= 8192) {
				t.Errorf("dead letter body of %d bytes (cut: %v): %.40q", len(dl.Data), tt.cut, dl.Data)
			}
			if n := counter(scrape(t, r), `aftershock_router_events_total{outcome="retry"}`); n > 0 {
				t.Errorf("%v publish retries of a message the server refuses for good", n)
			}
		})
	}
}

// TestReloadTakesNewReceivers: a reload that adds a receiver to
// routing.yaml and a rule sending to it is accepted, and from then on the
// rule's alerts reach the new receiver (the running notifier takes the
// routing the reload checked the rules against).
func TestReloadTakesNewReceivers(t *testing.T) {
	var mu sync.Mutex
	var posts []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		mu.Lock()
		posts = append(posts, string(b))
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	dir := rulesDir(t)
	writeFile(t, filepath.Join(dir, "routing.yaml"), "route: {receiver: console, group_wait: 0s}\n")
	s := bustest.Server(t)
	env := map[string]string{"TEST_HOOK_URL": hook.URL}
	r, err := router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: s.ClientURL()}, RulesDir: dir, HTTPAddr: "127.0.0.1:0", Console: &bustest.Buffer{},
		StateDir: t.TempDir(), NoRulesWatch: true, Getenv: func(k string) string { return env[k] },
	}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)

	writeFile(t, filepath.Join(dir, "routing.yaml"), `route: {receiver: console, group_wait: 0s}
receivers:
  - name: hook
    webhook: {url: {env: TEST_HOOK_URL}}
`)
	writeFile(t, filepath.Join(dir, "test.yaml"), testRules+`  - name: to-the-hook
    severity: warning
    match: event.type == "aftershock.test"
    group_by: [event.node]
    receivers: [hook]
    summary: 'for the hook: {{ .event.data.message }}'
`)
	if err := r.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	publish(t, r.Conn().JS, "events.dev.node1.app", "", testEvent("01JHOOK0000000000000000001", "node1", "new receiver", time.Now()))
	bustest.Eventually(t, "the new receiver gets the alert", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(posts) > 0 && strings.Contains(posts[0], "for the hook: new receiver")
	})
	// The firing count proves the series is the lifecycle's (a missing
	// series reads as 0: this check once named a metric that never was).
	if got := scrape(t, r); counter(got, `aftershock_lifecycle_alerts_total{outcome="firing"}`) == 0 ||
		counter(got, `aftershock_lifecycle_alerts_total{outcome="unknown_receiver"}`) != 0 {
		t.Errorf("alerts named an unknown receiver after the reload, or none was taken:\n%s", got)
	}

	// A reload whose receivers cannot be built (a secret is missing) is
	// refused as a whole: the rules that would use them do not run either.
	writeFile(t, filepath.Join(dir, "routing.yaml"), `route: {receiver: console, group_wait: 0s}
receivers:
  - name: hook
    webhook: {url: {env: TEST_HOOK_URL}}
  - name: hook2
    webhook: {url: {env: NOT_SET_ANYWHERE}}
`)
	writeFile(t, filepath.Join(dir, "test.yaml"), testRules+fmt.Sprintf(`  - name: to-hook2
    severity: warning
    match: event.type == "aftershock.test"
    group_by: [event.node]
    receivers: [%s]
    summary: x
`, "hook2"))
	if err := r.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "NOT_SET_ANYWHERE") {
		t.Fatalf("reload with a receiver that cannot be built: %v", err)
	}
	if got := scrape(t, r); counter(got, "aftershock_router_rules_loaded") != 3 {
		t.Errorf("rules loaded %v after a refused reload, want the previous 3", counter(got, "aftershock_router_rules_loaded"))
	}
}

package drills_test

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/notify/slack/slacktest"
	"github.com/aftershock/aftershock/internal/notify/wecom/wecomtest"
	"github.com/aftershock/aftershock/internal/router"
)

// routing sends every alert to four receivers: live ones (drills: false,
// the default) and drill ones. Timings are short so a test sees every
// change, and rate limits high so nothing is coalesced into digests.
const routing = `route:
  receiver: console
  group_by: ["..."]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 4h
  routes:
    - {receiver: oncall-slack, continue: true}
    - {receiver: oncall-wecom, continue: true}
    - {receiver: drill-slack, continue: true}
    - {receiver: drill-wecom}
receivers:
  - name: console
    console: {}
  - name: oncall-slack
    rate_limit: {messages: 1000, per: 1s}
    slack: {token: {env: LIVE_SLACK_TOKEN}, channel: "#oncall", api_url: "%LIVE_SLACK%"}
  - name: oncall-wecom
    rate_limit: {messages: 1000, per: 1s}
    wecom: {url: "%LIVE_WECOM%", key: {env: LIVE_WECOM_KEY}}
  - name: drill-slack
    drills: true
    rate_limit: {messages: 1000, per: 1s}
    slack: {token: {env: DRILL_SLACK_TOKEN}, channel: "#drills", api_url: "%DRILL_SLACK%"}
  - name: drill-wecom
    drills: true
    rate_limit: {messages: 1000, per: 1s}
    wecom: {url: "%DRILL_WECOM%", key: {env: DRILL_WECOM_KEY}}
`

// stand is a router on an embedded NATS with the repository's rules, fake
// Slack and WeCom receivers for live and for drills, and the nats CLI.
type stand struct {
	tb                    testing.TB
	cli, url              string
	r                     *router.Router
	js                    jetstream.JetStream
	liveSlack, drillSlack *slacktest.Server
	liveWeCom, drillWeCom *wecomtest.Server
	console               *bustest.Buffer
}

func newStand(tb testing.TB) *stand {
	tb.Helper()
	s := &stand{tb: tb, cli: bustest.NATSCLI(tb), console: &bustest.Buffer{}}
	s.liveSlack, s.drillSlack = slacktest.New(tb, "xoxb-live"), slacktest.New(tb, "xoxb-drill")
	s.liveWeCom, s.drillWeCom = wecomtest.New(tb, "live-key"), wecomtest.New(tb, "drill-key")
	s.liveWeCom.PerMinute, s.drillWeCom.PerMinute = 10_000, 10_000
	urls := map[string]string{}
	for name, srv := range map[string]*httptest.Server{
		"%LIVE_SLACK%": httptest.NewServer(s.liveSlack), "%DRILL_SLACK%": httptest.NewServer(s.drillSlack),
		"%LIVE_WECOM%": httptest.NewServer(s.liveWeCom), "%DRILL_WECOM%": httptest.NewServer(s.drillWeCom),
	} {
		tb.Cleanup(srv.Close)
		urls[name] = srv.URL
	}
	dir := rulesCopy(tb)
	cfg := routing
	for k, u := range urls {
		if strings.Contains(k, "SLACK") {
			u += "/api/"
		} else {
			u += wecomtest.Path
		}
		cfg = strings.ReplaceAll(cfg, k, u)
	}
	if err := os.WriteFile(filepath.Join(dir, "routing.yaml"), []byte(cfg), 0o644); err != nil {
		tb.Fatal(err)
	}
	env := map[string]string{"LIVE_SLACK_TOKEN": "xoxb-live", "DRILL_SLACK_TOKEN": "xoxb-drill", "LIVE_WECOM_KEY": "live-key", "DRILL_WECOM_KEY": "drill-key"}
	srv := bustest.Server(tb)
	r, err := router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: srv.ClientURL()}, RulesDir: dir, HTTPAddr: "127.0.0.1:0", Console: s.console,
		StateDir: tb.TempDir(), Getenv: func(k string) string { return env[k] },
	}, bustest.Logger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(r.Close)
	s.r, s.js, s.url = r, r.Conn().JS, srv.ClientURL()
	return s
}

// rulesCopy copies the repository's rule files (not their tests, not its
// routing) into a temporary rules directory.
func rulesCopy(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	files, err := filepath.Glob("../../rules/*.yaml")
	if err != nil || len(files) == 0 {
		tb.Fatalf("rules: %v", err)
	}
	for _, f := range files {
		base := filepath.Base(f)
		if base == "routing.yaml" || strings.HasSuffix(base, "_test.yaml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, base), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// nats runs the nats CLI against the stand's server.
func (s *stand) nats(stdin []byte, args ...string) string {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, s.cli, append([]string{"--server", s.url}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		s.tb.Fatalf("nats %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// replay is the runbook's command.
func (s *stand) replay(d drill) {
	s.tb.Helper()
	s.nats(d.events(s.tb), "pub", "drill.events."+d.cluster+".replay.app", "--send-on", "newline", "--no-templates", "--jetstream", "--quiet")
}

func (s *stand) lastSeq(stream string) uint64 {
	s.tb.Helper()
	st, err := s.js.Stream(context.Background(), stream)
	if err != nil {
		s.tb.Fatal(err)
	}
	info, err := st.Info(context.Background())
	if err != nil {
		s.tb.Fatal(err)
	}
	return info.State.LastSeq
}

// caughtUp waits until the router has acked everything stored in EVENTS.
func (s *stand) caughtUp() {
	s.tb.Helper()
	last := s.lastSeq(bus.StreamEvents)
	bustest.Eventually(s.tb, "router consumed EVENTS", func() bool {
		c, err := s.js.Consumer(context.Background(), bus.StreamEvents, "router")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.AckFloor.Stream >= last && info.NumAckPending == 0
	})
}

// alertsAfter reads the alerts stored after sequence seq.
func (s *stand) alertsAfter(seq uint64) []*alert.Alert {
	s.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	last := s.lastSeq(bus.StreamAlerts)
	if last <= seq {
		return nil
	}
	oc, err := s.js.OrderedConsumer(ctx, bus.StreamAlerts, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartSequencePolicy, OptStartSeq: seq + 1,
	})
	if err != nil {
		s.tb.Fatal(err)
	}
	var out []*alert.Alert
	for {
		msg, err := oc.Next(jetstream.FetchMaxWait(10 * time.Second))
		if err != nil {
			s.tb.Fatalf("read ALERTS: %v", err)
		}
		a, err := alert.Decode(msg.Data())
		if err != nil {
			s.tb.Fatal(err)
		}
		out = append(out, a)
		if md, _ := msg.Metadata(); md == nil || md.Sequence.Stream >= last {
			return out
		}
	}
}

// slackText is everything a fake Slack was sent: fallback text and every
// text of the blocks.
func slackText(srv *slacktest.Server) (string, int) {
	var b strings.Builder
	posts := srv.Posts()
	for _, p := range posts {
		b.WriteString(p.Text + "\n")
		for _, bl := range p.Blocks {
			texts(&b, bl)
		}
	}
	return b.String(), len(posts)
}

func texts(b *strings.Builder, v any) {
	switch x := v.(type) {
	case string:
		b.WriteString(x + "\n")
	case map[string]any:
		for _, y := range x {
			texts(b, y)
		}
	case []any:
		for _, y := range x {
			texts(b, y)
		}
	}
}

func wecomText(srv *wecomtest.Server) (string, int) {
	var b strings.Builder
	msgs := srv.Msgs()
	for _, m := range msgs {
		b.WriteString(m.Content + "\n")
	}
	return b.String(), len(msgs)
}

// delivered waits until both drill receivers were sent every expected
// alert's summary, with the drill marker.
func (s *stand) delivered(d drill) {
	s.tb.Helper()
	want := readExpected(s.tb, d)
	var missing []string
	ok := func() bool {
		st, _ := slackText(s.drillSlack)
		wt, _ := wecomText(s.drillWeCom)
		missing = missing[:0]
		for _, x := range want {
			for name, text := range map[string]string{"slack": st, "wecom": wt} {
				if !strings.Contains(text, x.Summary) || x.Node != "" && !strings.Contains(text, x.Node) {
					missing = append(missing, name+": "+x.String())
				}
			}
		}
		return len(missing) == 0 && strings.Contains(st, "[DRILL]") && strings.Contains(wt, "[DRILL]")
	}
	deadline := time.Now().Add(30 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			s.tb.Fatalf("%s: the drill receivers never got:\n%s", d.dir, strings.Join(missing, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// quiet waits until no receiver has been sent anything for settle, and
// returns the message counts.
func (s *stand) quiet(settle time.Duration) [4]int {
	s.tb.Helper()
	counts := func() [4]int {
		_, a := slackText(s.liveSlack)
		_, b := wecomText(s.liveWeCom)
		_, c := slackText(s.drillSlack)
		_, d := wecomText(s.drillWeCom)
		return [4]int{a, b, c, d}
	}
	last, since := counts(), time.Now()
	for time.Since(since) < settle {
		time.Sleep(50 * time.Millisecond)
		if c := counts(); c != last {
			last, since = c, time.Now()
		}
	}
	return last
}

// TestDrillEndToEnd replays every recorded incident with the real nats CLI,
// exactly as the runbook says, onto a router running the repository's
// rules: the alerts stored are the README's, both drill receivers (fake
// Slack and WeCom) are told each of them with its node and counts, the
// live receivers get nothing, a second replay adds nothing, and the
// runbook's listing command shows what ALERTS holds.
func TestDrillEndToEnd(t *testing.T) {
	s := newStand(t)
	for _, d := range drills {
		start := time.Now()
		before := s.lastSeq(bus.StreamAlerts)
		s.replay(d)
		replayed := time.Since(start)
		s.caughtUp()
		got := s.alertsAfter(before)
		evaluated := time.Since(start)
		for _, a := range got {
			if !strings.HasPrefix(a.Subject(), "alerts.drill.") {
				t.Errorf("%s: alert %s on %s", d.dir, a.Rule, a.Subject())
			}
		}
		compare(t, d, final(got))
		s.delivered(d)
		t.Logf("%s: %d events published in %s, %d alerts stored in %s, delivered to both drill receivers in %s",
			d.dir, len(d.lines(t)), replayed.Round(time.Millisecond), len(got), evaluated.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
	}

	// Settle (resolve notices go out a group interval later), then replay
	// everything again within the run gap and the duplicate window.
	counts := s.quiet(2 * time.Second)
	if counts[0] != 0 || counts[1] != 0 {
		t.Errorf("live receivers were sent %d Slack and %d WeCom messages during drills", counts[0], counts[1])
	}
	alerts := s.lastSeq(bus.StreamAlerts)
	for _, d := range drills {
		s.replay(d)
	}
	s.caughtUp()
	if now := s.lastSeq(bus.StreamAlerts); now != alerts {
		for _, a := range s.alertsAfter(alerts) {
			t.Errorf("second replay stored alert %s %s %s %q", a.Rule, a.GroupKey, a.State, a.Summary)
		}
	}
	if again := s.quiet(2 * time.Second); again != counts {
		t.Errorf("second replay changed what receivers were sent: %v, then %v (live Slack, live WeCom, drill Slack, drill WeCom)", counts, again)
	}

	// The live receivers work: a live event reaches them, so their silence
	// during the drills meant something.
	live := []byte(`{"specversion":"1.0","id":"live-e2e-1","source":"t","type":"aftershock.test","time":"2026-01-01T00:00:00Z","cluster":"dev","node":"n1","data":{"message":"live path check"}}`)
	s.nats(live, "pub", "events.dev.n1.app", "--jetstream", "--quiet", "--no-templates", "--force-stdin")
	bustest.Eventually(t, "live alert at the live receivers", func() bool {
		st, _ := slackText(s.liveSlack)
		wt, _ := wecomText(s.liveWeCom)
		return strings.Contains(st, "live path check") && strings.Contains(wt, "live path check")
	})

	// The runbook's listing command.
	out := s.nats(nil, "sub", "--stream", "ALERTS", "--all", "--raw", "-T", "--wait", "2s", "alerts.drill.>")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if uint64(len(lines)) != alerts {
		t.Errorf("nats sub listed %d drill alerts, ALERTS holds %d", len(lines), alerts)
	}
	for _, l := range lines {
		if _, err := alert.Decode([]byte(l)); err != nil {
			t.Fatalf("listed line is not an alert: %v: %s", err, l)
		}
	}
}

// TestInterruptedReplay: an operator stops a replay in the middle of the
// CoreDNS outage and starts it again from the top. The events already
// stored come again (nats pub sets no Nats-Msg-Id) while their windows are
// still open; each window counts an event id once, so the drill ends with
// exactly the alerts of one clean replay.
func TestInterruptedReplay(t *testing.T) {
	s := newStand(t)
	d := drills[0]
	var half []byte
	for _, l := range d.lines(t) {
		if bytes.Contains(l, []byte(`"time":"2020-06-14T05:17`)) {
			break
		}
		half = append(half, l...)
	}
	s.nats(half, "pub", "drill.events."+d.cluster+".replay.app", "--send-on", "newline", "--no-templates", "--jetstream", "--quiet")
	s.replay(d)
	s.caughtUp()
	compare(t, d, final(s.alertsAfter(0)))
}

// TestRecordReplayRoundTrip: the runbook's recording command gives back
// a drill file line for line.
func TestRecordReplayRoundTrip(t *testing.T) {
	s := newStand(t)
	d := drills[1]
	s.replay(d)
	out := s.nats(nil, "sub", "--stream", "EVENTS", "--since", "10m", "--raw", "-T", "--wait", "2s", "drill.events."+d.cluster+".>")
	if out != string(d.events(t)) {
		t.Fatalf("recorded %d bytes, the drill file has %d", len(out), len(d.events(t)))
	}
	// Cleaning up touches the drill namespace only.
	live := []byte(`{"specversion":"1.0","id":"live-1","source":"t","type":"aftershock.test","time":"2026-01-01T00:00:00Z","cluster":"dev","node":"n1","data":{"message":"live"}}`)
	s.nats(live, "pub", "events.dev.n1.app", "--jetstream", "--quiet", "--no-templates", "--force-stdin")
	s.nats(nil, "stream", "purge", "EVENTS", "--subject", "drill.events.>", "-f")
	if out := s.nats(nil, "sub", "--stream", "EVENTS", "--all", "--raw", "-T", "--wait", "2s", ">"); strings.TrimSpace(out) != string(live) {
		t.Fatalf("after the purge EVENTS holds:\n%s", out)
	}
}

package drills_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/notify"
	slackrecv "github.com/aftershock/aftershock/internal/notify/slack"
	"github.com/aftershock/aftershock/internal/notify/slack/slacktest"
	"github.com/aftershock/aftershock/internal/notify/wecom"
	"github.com/aftershock/aftershock/internal/router"
)

var update = flag.Bool("update", false, "rewrite the golden files of TestGoldenMessages")

// goldenOptions are a team in Guangzhou with the router behind a proxy.
func goldenOptions(tb testing.TB) brief.Options {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		tb.Fatal(err)
	}
	return brief.Options{Clock: brief.Clock{Loc: loc}, ExternalURL: "https://aftershock.example.com"}
}

// TestGoldenMessages renders the late-reboot incident's crash page as the
// on-call receives it: the first page (the node went silent) and the
// update when its reboot names the cause, for Slack with a bot token (the
// first post, the edit of it, the thread reply), Slack through an incoming
// webhook, and a WeCom robot (markdown and the @-mention). The files under
// late-reboot/golden are what people read; `go test ./deploy/drills -run
// Golden -update` rewrites them after a deliberate change, to be read again
// in review.
func TestGoldenMessages(t *testing.T) {
	page, upd := crashAlerts(t)
	o := goldenOptions(t)
	pageMsg := &notify.Message{GroupID: "g", Receiver: "oncall", Firing: []*alert.Alert{page}, Kind: notify.KindPage,
		Fresh: map[string]bool{page.Fingerprint: true}}
	updMsg := &notify.Message{GroupID: "g", Receiver: "oncall", Firing: []*alert.Alert{upd}, Kind: notify.KindUpdate,
		News: map[string][]string{upd.Fingerprint: upd.Change.Notes}, Ref: slacktest.ChannelID + "/1700000000.000001"}
	one := func(m *notify.Message) *notify.Notification {
		return &notify.Notification{Receiver: "oncall", Messages: []*notify.Message{m}}
	}
	sr, wr := slackrecv.Renderer{Brief: o}, wecom.Renderer{Brief: o}
	files := map[string][]byte{}
	slackFile := func(name string, blocks []slack.Block, fallback string) {
		b, err := json.MarshalIndent(map[string]any{"text": fallback, "blocks": blocks}, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		files[name+".json"] = append(b, '\n')
		files[name+".txt"] = []byte(blockText(t, b))
		var raw struct {
			Text   string           `json:"text"`
			Blocks []map[string]any `json:"blocks"`
		}
		if err := json.Unmarshal(b, &raw); err != nil {
			t.Fatal(err)
		}
		if probs := slacktest.Check(slacktest.Post{Text: raw.Text, Blocks: raw.Blocks}, o.ExternalURL); len(probs) > 0 {
			t.Errorf("%s breaks Slack's rules: %v", name, probs)
		}
	}
	blocks, fb := sr.Blocks(one(pageMsg))
	slackFile("slack-1-page", blocks, fb)
	blocks, fb = sr.MessageBlocks(updMsg, false)
	slackFile("slack-2-update-edit", blocks, fb)
	blocks, fb, broadcast := sr.ThreadBlocks(updMsg)
	if !broadcast {
		t.Error("the cause's thread reply is not broadcast to the channel")
	}
	slackFile("slack-3-update-thread", blocks, fb)
	blocks, fb = sr.Blocks(one(updMsg))
	slackFile("slack-webhook-2-update", blocks, fb)
	files["wecom-1-page.md"] = []byte(wr.Markdown(one(pageMsg)))
	files["wecom-1-page-mention.txt"] = []byte(wr.Page(one(pageMsg)) + "\n")
	files["wecom-2-update.md"] = []byte(wr.Markdown(one(updMsg)))
	if m := wr.Page(one(updMsg)); m != "" {
		t.Errorf("the update mentions people again: %q", m)
	}
	for name, b := range files {
		if strings.HasSuffix(name, ".md") && len(b) > wecom.MaxMarkdownBytes {
			t.Errorf("%s: %d bytes, more than one WeCom message", name, len(b))
		}
		if bytes.Contains(b, []byte(`{\"`)) || bytes.Contains(b, []byte(`":{"`)) {
			t.Errorf("%s holds raw JSON", name)
		}
		golden(t, filepath.Join("late-reboot", "golden", name), b)
	}
	for _, want := range []string{"went silent", "10.2.0.29"} {
		if !strings.Contains(string(files["slack-1-page.txt"]), want) {
			t.Errorf("the page does not say %q", want)
		}
	}
	for name, want := range map[string]string{"slack-3-update-thread.txt": "cause found", "wecom-2-update.md": "not memory exhaustion",
		"slack-2-update-edit.txt": "Last kernel words", "wecom-1-page.md": "2021-11-02 03:09:50 CST"} {
		if !strings.Contains(string(files[name]), want) {
			t.Errorf("%s does not say %q", name, want)
		}
	}
}

// crashAlerts are the live node-crash alerts of the late-reboot drill: the
// first page and the significant update that names the cause.
func crashAlerts(t *testing.T) (page, upd *alert.Alert) {
	t.Helper()
	set, err := router.LoadRules("../../rules", nil)
	if err != nil {
		t.Fatal(err)
	}
	e := correlate.New(set, bustest.Logger(t), correlate.Options{Now: func() time.Time { return time.Date(2021, 11, 1, 19, 14, 8, 0, time.UTC) }})
	d := drill{"late-reboot", "prod-gz"}
	for _, line := range d.lines(t) {
		ev, err := event.Decode(line)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range e.Process(ev, correlate.Meta{Arrival: ev.Time}) {
			a.RulesVersion = "git:0123abcd" // a golden file outlives commits
			switch {
			case a.Rule != "node-crash" || a.State != alert.Firing:
			case a.Update == 0:
				page = a
			case a.Change != nil && a.Change.Significant:
				upd = a
			}
		}
	}
	if page == nil || upd == nil {
		t.Fatalf("no page (%v) or no significant update (%v) of node-crash", page != nil, upd != nil)
	}
	return page, upd
}

func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./deploy/drills -run Golden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from what is rendered now; read both, and if the change is meant, run go test ./deploy/drills -run Golden -update\n--- rendered:\n%s", path, got)
	}
}

// blockText transcribes Block Kit JSON as a reader sees it, for review.
func blockText(t *testing.T, raw []byte) string {
	t.Helper()
	var m struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type string `json:"type"`
			Text *struct {
				Text string `json:"text"`
			} `json:"text"`
			Fields []struct {
				Text string `json:"text"`
			} `json:"fields"`
			Elements []struct {
				Text string `json:"text"`
			} `json:"elements"`
		} `json:"blocks"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "notification: %s\n", m.Text)
	for _, bl := range m.Blocks {
		switch bl.Type {
		case "divider":
			b.WriteString("────────\n")
		case "header":
			fmt.Fprintf(&b, "# %s\n", bl.Text.Text)
		case "context":
			for _, e := range bl.Elements {
				fmt.Fprintf(&b, "  (%s)\n", e.Text)
			}
		default:
			if bl.Text != nil {
				b.WriteString(bl.Text.Text + "\n")
			}
			for _, f := range bl.Fields {
				fmt.Fprintf(&b, "  %s\n", strings.ReplaceAll(f.Text, "\n", ": "))
			}
		}
	}
	return b.String()
}

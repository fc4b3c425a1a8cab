package slack

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/notify"
)

// Slack's Block Kit limits.
const (
	MaxBlocks      = 50
	MaxSectionText = 3000
	MaxHeaderText  = 150
	MaxFieldText   = 2000
	MaxFields      = 10
	MaxContextText = 3000
	// maxAlertBlocks is the most blocks one alert takes (see alertBlocks).
	maxAlertBlocks = 6
	marker         = "… (truncated)"
)

var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;",
	// Plain @channel does not ping in API or webhook messages, but make
	// sure no client or setting ever turns event text into a mention.
	"@channel", "@\u200bchannel", "@here", "@\u200bhere", "@everyone", "@\u200beveryone")

// Escape makes text from events inert in mrkdwn: &, < and > become
// entities, so "<!channel>" or "<https://evil|click>" stay text.
func Escape(s string) string { return escaper.Replace(s) }

// text escapes s and truncates the result to limit characters with a
// marker, never cutting an entity in half.
func text(s string, limit int) string { return truncateEscaped(Escape(s), limit) }

func mrkdwn(s string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
}

func section(s string) slack.Block { return slack.NewSectionBlock(mrkdwn(s), nil, nil) }

func header(s string) slack.Block {
	return slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, notify.Truncate(s, MaxHeaderText, "…"), true, false))
}

func contextBlock(s string) slack.Block {
	return slack.NewContextBlock("", mrkdwn(notify.Truncate(s, MaxContextText, "…")))
}

var stateIcon = map[alert.State]string{alert.Firing: "🔥", alert.Resolved: "✅"}

func headline(m *notify.Message) string {
	var b strings.Builder
	if m.Drill {
		b.WriteString("[DRILL] ")
	}
	as := m.Alerts()
	st := m.Status()
	fmt.Fprintf(&b, "%s %s", stateIcon[st], strings.ToUpper(string(st)))
	if len(as) > 0 {
		fmt.Fprintf(&b, " · %s · %s", strings.ToUpper(orDash(as[0].Severity)), as[0].Rule)
	}
	if m.Repeat {
		b.WriteString(" (reminder)")
	}
	if n := len(as); n > 1 {
		fmt.Fprintf(&b, " · %d alerts", n)
	}
	return b.String()
}

// Blocks renders a notification within Slack's limits: one group in full
// (each alert with severity, node, cause, evidence and rules version), or
// a digest with a few lines per group when several were coalesced.
func Blocks(n *notify.Notification) (blocks []slack.Block, fallback string) {
	if len(n.Messages) == 1 {
		return messageBlocks(n.Messages[0])
	}
	return digestBlocks(n)
}

func messageBlocks(m *notify.Message) ([]slack.Block, string) {
	title := headline(m)
	blocks := []slack.Block{header(title)}
	if m.Drill {
		blocks = append(blocks, contextBlock("*This is a drill.* Replayed events, not a live incident."))
	}
	as := m.Alerts()
	shown := 0
	for _, a := range as {
		ab := alertBlocks(a)
		// Keep room for the "more" section and the footer.
		if len(blocks)+len(ab)+2 > MaxBlocks {
			break
		}
		if shown > 0 {
			blocks = append(blocks, slack.NewDividerBlock())
		}
		blocks = append(blocks, ab...)
		shown++
	}
	if rest := as[shown:]; len(rest) > 0 {
		var b strings.Builder
		fmt.Fprintf(&b, "*… and %d more alert(s):*\n", len(rest))
		for _, a := range rest {
			fmt.Fprintf(&b, "• [%s] %s\n", a.State, Escape(a.Summary))
		}
		blocks = append(blocks, section(truncateEscaped(b.String(), MaxSectionText)))
	}
	return blocks, text(title+": "+firstSummary(as), MaxSectionText)
}

func alertBlocks(a *alert.Alert) []slack.Block {
	out := []slack.Block{section(fmt.Sprintf("%s *%s*", stateIcon[a.State], text(a.Summary, MaxSectionText-40)))}
	var fields []*slack.TextBlockObject
	field := func(name, v string) {
		if v != "" && len(fields) < MaxFields {
			fields = append(fields, mrkdwn("*"+name+"*\n"+text(v, MaxFieldText-len(name)-4)))
		}
	}
	field("Severity", a.Severity)
	field("Node", a.Labels["node"])
	field("Cluster", a.Labels["cluster"])
	field("Rule", a.Rule)
	if !a.StartsAt.IsZero() {
		field("Since", a.StartsAt.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	if a.State == alert.Resolved && !a.EndsAt.IsZero() {
		field("Resolved", a.EndsAt.UTC().Format("2006-01-02 15:04:05 MST"))
	}
	out = append(out, slack.NewSectionBlock(nil, fields, nil))
	cause := a.Details
	for _, k := range slices.Sorted(maps.Keys(a.Annotations)) {
		cause += "\n" + k + ": " + a.Annotations[k]
	}
	if cause = strings.TrimSpace(cause); cause != "" {
		out = append(out, section("*Cause*\n"+text(cause, MaxSectionText-12)))
	}
	if len(a.Evidence) > 0 {
		var b strings.Builder
		for _, ev := range a.Evidence {
			line := fmt.Sprintf("%s %s @ %s %s", ev.Time.UTC().Format("15:04:05"), ev.Type, ev.Node, ev.Data)
			b.WriteString(notify.Truncate(strings.ReplaceAll(line, "\n", " "), 400, "…") + "\n")
		}
		body := strings.ReplaceAll(b.String(), "```", "'''")
		head := fmt.Sprintf("*Evidence* (%d of %d event(s))\n```", len(a.Evidence), a.EvidenceSeen)
		out = append(out, section(head+text(body, MaxSectionText-len(head)-3)+"```"))
	}
	out = append(out, contextBlock(fmt.Sprintf("rules %s · fingerprint `%s` · id `%s`", Escape(orDash(a.RulesVersion)), a.Fingerprint, a.ID)))
	return out
}

func digestBlocks(n *notify.Notification) ([]slack.Block, string) {
	title := fmt.Sprintf("%d alert groups", len(n.Messages))
	if n.Drill() {
		title = "[DRILL] " + title
	}
	blocks := []slack.Block{header(title), contextBlock("Several groups changed at once; they are summarised here in one message.")}
	for i, m := range n.Messages {
		if len(blocks)+2 > MaxBlocks {
			blocks = append(blocks, section(fmt.Sprintf("*… and %d more group(s)*", len(n.Messages)-i)))
			break
		}
		var b strings.Builder
		fmt.Fprintf(&b, "*%s*\n", Escape(headline(m)))
		for _, a := range m.Alerts() {
			fmt.Fprintf(&b, "• %s %s\n", stateIcon[a.State], Escape(notify.Truncate(a.Summary, 300, "…")))
		}
		blocks = append(blocks, section(truncateEscaped(b.String(), MaxSectionText)))
	}
	return blocks, text(title, MaxSectionText)
}

// truncateEscaped cuts already escaped text, never inside an entity.
func truncateEscaped(s string, limit int) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	cut := notify.Truncate(s, limit-utf8.RuneCountInString(marker), "")
	if i := strings.LastIndexByte(cut, '&'); i >= 0 && !strings.Contains(cut[i:], ";") {
		cut = cut[:i]
	}
	return cut + marker
}

func firstSummary(as []*alert.Alert) string {
	if len(as) == 0 {
		return ""
	}
	return as[0].Summary
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

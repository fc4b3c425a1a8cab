package slack

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/brief"
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
	maxAlertBlocks = 7
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

// Renderer renders notifications for one receiver's readers.
type Renderer struct{ Brief brief.Options }

func (r Renderer) headline(m *notify.Message) string { return m.Headline(r.Brief) }

// Blocks renders a notification as a new message within Slack's limits:
// one group in full, or a digest of a few lines per group when several
// were coalesced.
func (r Renderer) Blocks(n *notify.Notification) (blocks []slack.Block, fallback string) {
	if len(n.Messages) == 1 {
		return r.MessageBlocks(n.Messages[0], true)
	}
	return r.digestBlocks(n)
}

// MessageBlocks renders one group's message: its header, the news it
// brings (when withNews), then every alert.
func (r Renderer) MessageBlocks(m *notify.Message, withNews bool) ([]slack.Block, string) {
	title := r.headline(m)
	if !withNews {
		title = m.StateHeadline(r.Brief)
	}
	blocks := []slack.Block{header(title)}
	if m.Drill {
		blocks = append(blocks, contextBlock("*This is a drill.* Replayed events, not a live incident."))
	}
	fallback := title
	if news := r.newsText(m); withNews && news != "" {
		blocks = append(blocks, section(truncateEscaped(news, MaxSectionText)),
			contextBlock("Updates the earlier message about this alert, which fired at "+Escape(r.Brief.Clock.At(m.Firing[0].StartsAt))+"."))
		fallback = pushText(title, flatNews(m))
	}
	as := m.Alerts()
	shown := 0
	for _, a := range as {
		ab := r.alertBlocks(a)
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
		fmt.Fprintf(&b, "*… and %s:*\n", more(len(rest), "alert"))
		for _, a := range rest {
			if b.Len() > 4*MaxSectionText { // cut below anyway: an alert storm lists thousands
				break
			}
			fmt.Fprintf(&b, "• [%s] %s\n", a.State, Escape(a.Summary))
		}
		blocks = append(blocks, section(truncateEscaped(b.String(), MaxSectionText)))
	}
	return blocks, text(fallback, MaxSectionText)
}

// newsText is the update's news, escaped mrkdwn ("" when none).
func (r Renderer) newsText(m *notify.Message) string {
	notes := flatNews(m)
	if len(notes) == 0 {
		return ""
	}
	var b strings.Builder
	b.WriteString("🔄 *What changed*")
	for _, n := range notes {
		b.WriteString("\n• " + Escape(n))
	}
	return b.String()
}

// flatNews lists the message's news in alert order.
func flatNews(m *notify.Message) []string {
	var out []string
	for _, a := range m.Firing {
		out = append(out, m.News[a.Fingerprint]...)
	}
	return out
}

func (r Renderer) alertBlocks(a *alert.Alert) []slack.Block {
	b := brief.Of(a, r.Brief)
	out := []slack.Block{section(fmt.Sprintf("%s *%s*", notify.Icon(a), text(b.Summary, MaxSectionText-40)))}
	var fields []*slack.TextBlockObject
	for _, f := range b.Fields {
		if len(fields) < MaxFields {
			fields = append(fields, mrkdwn("*"+f.Name+"*\n"+text(f.Value, MaxFieldText-len(f.Name)-4)))
		}
	}
	if len(fields) > 0 {
		out = append(out, slack.NewSectionBlock(nil, fields, nil))
	}
	var why strings.Builder
	if b.Details != "" {
		why.WriteString(Escape(b.Details) + "\n")
	}
	for _, n := range b.Notes {
		fmt.Fprintf(&why, "• *%s:* %s\n", Escape(n.Name), Escape(n.Value))
	}
	if why.Len() > 0 {
		out = append(out, section(truncateEscaped("*Why*\n"+strings.TrimSpace(why.String()), MaxSectionText)))
	}
	if lw := b.LastWords; lw != nil {
		head := fmt.Sprintf("*Last kernel words* of %s (%s)\n```", Escape(lw.Node), Escape(orDash(lw.Source)))
		body := strings.ReplaceAll(strings.Join(lw.Lines, "\n"), "```", "'''")
		out = append(out, section(head+text(body, MaxSectionText-len(head)-3)+"```"))
	}
	if len(b.Tally)+len(b.Events) > 0 {
		var ev strings.Builder
		ev.WriteString("*Evidence*")
		for _, l := range b.Tally {
			ev.WriteString("\n• " + Escape(l))
		}
		if len(b.Events) > 0 {
			ev.WriteString("\n```" + strings.ReplaceAll(Escape(strings.Join(b.Events, "\n")), "```", "'''") + "```")
		}
		out = append(out, section(truncateEscaped(ev.String(), MaxSectionText)))
	}
	out = append(out, contextBlock(r.footer(b)))
	return out
}

// link is mrkdwn linking a's page, or "".
func (r Renderer) link(a *alert.Alert) string {
	if b := brief.Of(a, r.Brief); b.Link != "" {
		return fmt.Sprintf("<%s|Incident page>", b.Link)
	}
	return ""
}

func (r Renderer) footer(b *brief.Brief) string {
	f := Escape(b.Footer)
	if b.Link != "" {
		f = fmt.Sprintf("<%s|Incident page> · %s", b.Link, f)
	}
	return f
}

func (r Renderer) digestBlocks(n *notify.Notification) ([]slack.Block, string) {
	title := fmt.Sprintf("%d alert groups", len(n.Messages))
	if n.Drill() {
		title = "[DRILL] " + title
	}
	blocks := []slack.Block{header(title), contextBlock("Several groups changed at once; they are summarised here in one message.")}
	for i, m := range n.Messages {
		if len(blocks)+2 > MaxBlocks {
			blocks = append(blocks, section(fmt.Sprintf("*… and %s*", more(len(n.Messages)-i, "group"))))
			break
		}
		var b strings.Builder
		fmt.Fprintf(&b, "*%s*\n", Escape(r.headline(m)))
		for _, note := range flatNews(m) {
			fmt.Fprintf(&b, "🔄 %s\n", Escape(notify.Truncate(note, 300, "…")))
		}
		for _, a := range m.Alerts() {
			fmt.Fprintf(&b, "• %s %s\n", notify.Icon(a), Escape(notify.Truncate(a.Summary, 300, "…")))
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

// more counts what a message leaves out: "1 more alert", "3 more alerts".
func more(n int, what string) string {
	if n == 1 {
		return "1 more " + what
	}
	return fmt.Sprintf("%d more %ss", n, what)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// ThreadBlocks renders what a message adds in its group's thread (bot
// mode): the news of an update, the alerts new to the group, resolve
// notices, a reminder. A refresh adds nothing: the edit says it all.
// broadcast says the reply should show in the channel too.
func (r Renderer) ThreadBlocks(m *notify.Message) (blocks []slack.Block, fallback string, broadcast bool) {
	drill := ""
	if m.Drill {
		drill = "[DRILL] "
	}
	switch m.Kind {
	case notify.KindUpdate:
		if news := r.newsText(m); news != "" {
			blocks = append(blocks, section(truncateEscaped(news, MaxSectionText)))
			if link := r.link(m.Firing[0]); link != "" {
				blocks = append(blocks, contextBlock(link))
			}
			fallback = drill + "🔄 " + strings.Join(flatNews(m), "; ")
			broadcast = true
		}
	case notify.KindPage:
		for _, a := range m.Firing {
			if !m.Fresh[a.Fingerprint] || len(blocks)+maxAlertBlocks+1 > MaxBlocks {
				continue
			}
			if len(blocks) > 0 {
				blocks = append(blocks, slack.NewDividerBlock())
			}
			blocks = append(blocks, r.alertBlocks(a)...)
			if fallback == "" {
				fallback = drill + notify.Icon(a) + " " + brief.Of(a, r.Brief).Title
			}
			broadcast = broadcast || a.Severity == "critical"
		}
	case notify.KindRepeat:
		var b strings.Builder
		for _, a := range m.Firing {
			fmt.Fprintf(&b, "⏰ Still firing since %s: %s\n", Escape(r.Brief.Clock.At(a.Begins())), Escape(brief.Of(a, r.Brief).Title))
		}
		blocks, fallback = []slack.Block{section(truncateEscaped(b.String(), MaxSectionText))}, drill+"⏰ still firing"
	}
	if len(m.Resolved) > 0 {
		var b strings.Builder
		for _, a := range m.Resolved {
			fmt.Fprintf(&b, "✅ *Resolved* after %s: %s\n", brief.Duration(a.EndsAt.Sub(a.Begins())), Escape(brief.Of(a, r.Brief).Title))
		}
		blocks = append(blocks, section(truncateEscaped(b.String(), MaxSectionText)))
		if fallback == "" {
			fallback = drill + "✅ resolved"
		}
	}
	return blocks, text(fallback, MaxSectionText), broadcast
}

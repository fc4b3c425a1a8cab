package wecom

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/notify"
)

// WeCom's limits, in bytes of UTF-8.
const (
	MaxMarkdownBytes = 4096
	MaxTextBytes     = 2048
)

// fullAlerts is how many alerts of a group are shown in full; the rest of
// a large group is counted in one line, so a storm of 40 alerts is one
// message, not ten.
const fullAlerts = 3

var escaper = strings.NewReplacer(
	// WeCom markdown has mentions (<@userid>), <font> tags and [links](url);
	// full-width brackets keep event text readable and inert.
	"<", "＜", ">", "＞", "[", "［", "]", "］", "`", "'",
	// "@all" means everyone to people and some clients: break it.
	"@all", "@\u200ball", "@所有人", "@\u200b所有人",
)

// Escape makes text from events inert in WeCom markdown and text messages.
func Escape(s string) string { return escaper.Replace(s) }

// codeEscaper is for text inside our own inline code spans, where brackets
// cannot make a link: the kernel's "[ cut here ]" stays as it was printed.
var codeEscaper = strings.NewReplacer("<", "＜", ">", "＞", "`", "'", "@all", "@\u200ball", "@所有人", "@\u200b所有人")

func code(s string) string { return "`" + codeEscaper.Replace(s) + "`" }

var color = map[string]string{"critical": "warning", "warning": "warning", "info": "info"}

// Renderer renders notifications for one robot's group.
type Renderer struct{ Brief brief.Options }

// Markdown renders a notification: one group (its most important alerts
// in full, the rest counted), or a digest of several groups.
func (r Renderer) Markdown(n *notify.Notification) string {
	var b strings.Builder
	if len(n.Messages) > 1 {
		title := fmt.Sprintf("%d alert groups", len(n.Messages))
		if n.Drill() {
			title = "[DRILL] " + title
		}
		fmt.Fprintf(&b, "## %s\n", title)
		for _, m := range n.Messages {
			r.writeBrief(&b, m)
		}
		return b.String()
	}
	r.writeMessage(&b, n.Messages[0])
	return b.String()
}

func (r Renderer) writeMessage(b *strings.Builder, m *notify.Message) {
	fmt.Fprintf(b, "# %s\n", r.headline(m))
	if m.Drill {
		b.WriteString("<font color=\"comment\">This is a drill: replayed events, not a live incident.</font>\n")
	}
	writeNews(b, m)
	as := important(m)
	for i, a := range as[:min(len(as), fullAlerts)] {
		if i > 0 {
			b.WriteString("\n")
		}
		r.writeAlert(b, a)
	}
	if rest := as[min(len(as), fullAlerts):]; len(rest) > 0 {
		fmt.Fprintf(b, "\n**and %d more**: %s\n", len(rest), Escape(brief.Fold(rulesOf(rest), 5)))
	}
}

// headline escapes the message's headline but its own [DRILL] mark.
func (r Renderer) headline(m *notify.Message) string {
	h, drill := strings.CutPrefix(m.Headline(r.Brief), "[DRILL] ")
	if drill {
		return "[DRILL] " + Escape(h)
	}
	return Escape(h)
}

// writeBrief is one group in a digest: its headline and news.
func (r Renderer) writeBrief(b *strings.Builder, m *notify.Message) {
	fmt.Fprintf(b, "### %s\n", r.headline(m))
	writeNews(b, m)
	for _, a := range important(m)[:min(len(m.Alerts()), fullAlerts)] {
		fmt.Fprintf(b, "> %s\n", Escape(notify.Truncate(a.Summary, 300, "…")))
	}
}

func writeNews(b *strings.Builder, m *notify.Message) {
	for _, a := range m.Firing {
		for _, n := range m.News[a.Fingerprint] {
			fmt.Fprintf(b, "> 🔄 **%s**\n", Escape(n))
		}
	}
}

// important orders a message's alerts for a reader: firing before
// resolved, critical first, then the oldest.
func important(m *notify.Message) []*alert.Alert {
	as := slices.Clone(m.Alerts())
	rank := map[string]int{"critical": 0, "warning": 1}
	slices.SortStableFunc(as, func(a, b *alert.Alert) int {
		ra, ok := rank[a.Severity]
		if !ok {
			ra = 2
		}
		rb, ok := rank[b.Severity]
		if !ok {
			rb = 2
		}
		return cmp.Or(cmp.Compare(stateRank(a), stateRank(b)), cmp.Compare(ra, rb), a.StartsAt.Compare(b.StartsAt))
	})
	return as
}

func stateRank(a *alert.Alert) int {
	if a.State == alert.Firing {
		return 0
	}
	return 1
}

func rulesOf(as []*alert.Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Rule
	}
	return out
}

func (r Renderer) writeAlert(b *strings.Builder, a *alert.Alert) {
	br := brief.Of(a, r.Brief)
	c := color[a.Severity]
	if c == "" || a.State == alert.Resolved {
		c = "info"
	}
	fmt.Fprintf(b, "<font color=\"%s\">%s %s</font> **%s**\n", c, strings.ToUpper(string(a.State)), strings.ToUpper(Escape(orString(a.Severity, "info"))), Escape(br.Summary))
	for _, f := range br.Fields {
		fmt.Fprintf(b, "> %s: %s\n", f.Name, Escape(f.Value))
	}
	if br.Details != "" {
		fmt.Fprintf(b, "%s\n", Escape(br.Details))
	}
	for _, n := range br.Notes {
		fmt.Fprintf(b, "**%s**: %s\n", Escape(n.Name), Escape(n.Value))
	}
	if lw := br.LastWords; lw != nil {
		fmt.Fprintf(b, "**Last kernel words** of %s (%s):\n", Escape(lw.Node), Escape(orString(lw.Source, "-")))
		for _, l := range lw.Lines {
			fmt.Fprintf(b, "> %s\n", code(notify.Truncate(l, 200, "…")))
		}
	}
	if len(br.Tally)+len(br.Events) > 0 {
		b.WriteString("**Evidence**:\n")
		for _, l := range br.Tally {
			fmt.Fprintf(b, "- %s\n", Escape(l))
		}
		for _, l := range br.Events {
			fmt.Fprintf(b, "- %s\n", code(notify.Truncate(l, 300, "…")))
		}
	}
	if br.Link != "" {
		fmt.Fprintf(b, "[Incident page](%s)\n", br.Link)
	}
	fmt.Fprintf(b, "<font color=\"comment\">%s</font>\n", Escape(br.Footer))
}

// Page is the text message that @-mentions people: only when a critical
// alert is new to the group (the first page, or an escalation), never for
// updates, reminders or resolves, so one incident mentions people once.
func (r Renderer) Page(n *notify.Notification) string {
	var b strings.Builder
	for _, m := range n.Messages {
		if m.Kind != notify.KindPage {
			continue
		}
		for _, a := range m.Firing {
			if b.Len() > MaxTextBytes { // cut below anyway: a storm pages for thousands
				break
			}
			if a.Severity != "critical" || !m.Fresh[a.Fingerprint] {
				continue
			}
			drill := ""
			if a.Drill {
				drill = "[DRILL] "
			}
			fmt.Fprintf(&b, "%s🔥 CRITICAL %s\n", drill, Escape(brief.Of(a, r.Brief).Title))
		}
	}
	if b.Len() == 0 {
		return ""
	}
	return notify.TruncateBytes(b.String()+"(details in the message above)", MaxTextBytes, "…")
}

// Split cuts content into parts of at most limit bytes on line (or else
// character) boundaries, numbering them when there are several.
func Split(content string, limit int) []string {
	const room = 16 // for the "(2/3)\n" prefix
	parts := notify.SplitBytes(content, limit-room)
	if len(parts) == 1 {
		return parts
	}
	for i := range parts {
		parts[i] = fmt.Sprintf("(%d/%d)\n%s", i+1, len(parts), parts[i])
	}
	return parts
}

func orString(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

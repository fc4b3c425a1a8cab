package wecom

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/notify"
)

// WeCom's limits, in bytes of UTF-8.
const (
	MaxMarkdownBytes = 4096
	MaxTextBytes     = 2048
)

var escaper = strings.NewReplacer(
	// WeCom markdown has mentions (<@userid>), <font> tags and [links](url);
	// full-width brackets keep event text readable and inert.
	"<", "＜", ">", "＞", "[", "［", "]", "］", "`", "'",
	// "@all" means everyone to people and some clients: break it.
	"@all", "@\u200ball", "@所有人", "@\u200b所有人",
)

// Escape makes text from events inert in WeCom markdown and text messages.
func Escape(s string) string { return escaper.Replace(s) }

var color = map[string]string{"critical": "warning", "warning": "warning", "info": "info"}

// Markdown renders a notification: one group in full, or a digest.
func Markdown(n *notify.Notification) string {
	var b strings.Builder
	if len(n.Messages) > 1 {
		title := fmt.Sprintf("%d alert groups", len(n.Messages))
		if n.Drill() {
			title = "[DRILL] " + title
		}
		fmt.Fprintf(&b, "## %s\n", title)
	}
	for i, m := range n.Messages {
		if i > 0 {
			b.WriteString("\n")
		}
		writeMessage(&b, m, len(n.Messages) > 1)
	}
	return b.String()
}

func writeMessage(b *strings.Builder, m *notify.Message, brief bool) {
	as := m.Alerts()
	drill := ""
	if m.Drill {
		drill = "[DRILL] "
	}
	level := "#"
	if brief {
		level = "###"
	}
	status := strings.ToUpper(string(m.Status()))
	if len(as) > 0 {
		fmt.Fprintf(b, "%s %s%s · %s", level, drill, status, as[0].Rule)
	} else {
		fmt.Fprintf(b, "%s %s%s", level, drill, status)
	}
	if m.Repeat {
		b.WriteString(" (reminder)")
	}
	b.WriteString("\n")
	for _, a := range as {
		writeAlert(b, a, brief)
	}
}

func writeAlert(b *strings.Builder, a *alert.Alert, brief bool) {
	sev := a.Severity
	if sev == "" {
		sev = "info"
	}
	c := color[sev]
	if c == "" {
		c = "comment"
	}
	if a.State == alert.Resolved {
		c = "info"
	}
	fmt.Fprintf(b, "> <font color=\"%s\">%s %s</font> **%s**\n", c, strings.ToUpper(string(a.State)), strings.ToUpper(Escape(sev)), Escape(a.Summary))
	if brief {
		return
	}
	var where []string
	for _, k := range []string{"cluster", "node"} {
		if v := a.Labels[k]; v != "" {
			where = append(where, k+": "+Escape(v))
		}
	}
	if !a.StartsAt.IsZero() {
		where = append(where, "since "+a.StartsAt.UTC().Format("2006-01-02 15:04:05Z"))
	}
	if len(where) > 0 {
		fmt.Fprintf(b, "> %s\n", strings.Join(where, " · "))
	}
	if a.Details != "" {
		fmt.Fprintf(b, "%s\n", Escape(a.Details))
	}
	for _, k := range slices.Sorted(maps.Keys(a.Annotations)) {
		fmt.Fprintf(b, "**%s**: %s\n", Escape(k), Escape(a.Annotations[k]))
	}
	if len(a.Evidence) > 0 {
		fmt.Fprintf(b, "**Evidence** (%d of %d):\n", len(a.Evidence), a.EvidenceSeen)
		for _, ev := range a.Evidence {
			line := fmt.Sprintf("%s %s @ %s %s", ev.Time.UTC().Format("15:04:05"), ev.Type, ev.Node, ev.Data)
			fmt.Fprintf(b, "- %s\n", Escape(notify.Truncate(strings.ReplaceAll(line, "\n", " "), 400, "…")))
		}
	}
	fmt.Fprintf(b, "<font color=\"comment\">rules %s · %s</font>\n", Escape(a.RulesVersion), a.Fingerprint)
}

// Page is the text message that @-mentions people for critical alerts.
func Page(n *notify.Notification) string {
	var b strings.Builder
	for _, m := range n.Messages {
		for _, a := range m.Firing {
			if a.Severity != "critical" {
				continue
			}
			drill := ""
			if a.Drill {
				drill = "[DRILL] "
			}
			fmt.Fprintf(&b, "%sCRITICAL %s: %s\n", drill, a.Rule, Escape(a.Summary))
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

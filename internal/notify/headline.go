package notify

import (
	"cmp"
	"fmt"
	"strings"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/brief"
)

// Headline is the message's first line, what a phone's notification shows:
// "[DRILL] 🔄 UPDATE · CRITICAL · node 172.21.128.138 crashed: kernel BUG …".
func (m *Message) Headline(o brief.Options) string { return m.headline(o, true) }

// StateHeadline is the headline of the group as it is now, without saying
// what kind of message tells it: a first message edited in place.
func (m *Message) StateHeadline(o brief.Options) string { return m.headline(o, false) }

func (m *Message) headline(o brief.Options, asNews bool) string {
	var b strings.Builder
	if m.Drill {
		b.WriteString("[DRILL] ")
	}
	as := m.Alerts()
	switch {
	case !asNews && m.Status() == alert.Firing:
		b.WriteString(firingIcon(as) + " ")
	case m.Kind == KindUpdate && len(m.News) > 0:
		b.WriteString("🔄 UPDATE · ")
	case m.Repeat:
		b.WriteString("⏰ STILL FIRING · ")
	case m.Kind == KindRefresh:
		b.WriteString("📈 GROWING · ")
	case m.Status() == alert.Resolved:
		b.WriteString("✅ RESOLVED · ")
	default:
		b.WriteString(firingIcon(as) + " ")
	}
	if len(as) == 1 {
		a := as[0]
		if a.State == alert.Firing {
			fmt.Fprintf(&b, "%s · ", strings.ToUpper(cmp.Or(a.Severity, "info")))
		}
		b.WriteString(brief.Of(a, o).Title)
		return b.String()
	}
	fmt.Fprintf(&b, "%d alerts · %s", len(as), brief.Fold(rules(as), 3))
	return b.String()
}

func rules(as []*alert.Alert) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Rule
	}
	return out
}

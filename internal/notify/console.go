package notify

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aftershock/aftershock/internal/alert"
)

// Console prints notifications readably; it is always available.
type Console struct {
	name string
	mu   sync.Mutex
	w    io.Writer
}

var _ Receiver = (*Console)(nil)

// NewConsole writes to w.
func NewConsole(name string, w io.Writer) *Console { return &Console{name: name, w: w} }

// Name implements Receiver.
func (c *Console) Name() string { return c.name }

// Send implements Receiver.
func (c *Console) Send(_ context.Context, n *Notification) (string, error) {
	var b strings.Builder
	for _, m := range n.Messages {
		if len(n.Messages) > 1 || len(m.Alerts()) > 1 {
			fmt.Fprintf(&b, "--- group %s: %d firing, %d resolved%s\n", labelString(m.GroupLabels), len(m.Firing), len(m.Resolved), repeatNote(m))
		}
		for _, a := range m.Alerts() {
			writeAlert(&b, a, m)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := io.WriteString(c.w, b.String())
	return "", err
}

func repeatNote(m *Message) string {
	if m.Repeat {
		return " (reminder: still firing)"
	}
	return ""
}

func writeAlert(b *strings.Builder, a *alert.Alert, m *Message) {
	fmt.Fprintf(b, "=== %s%s\n", a.Title(), repeatNote(m))
	fmt.Fprintf(b, "    labels:   %s\n", labelString(a.Labels))
	fmt.Fprintf(b, "    window:   %s .. %s (event time)\n", a.WindowStart.Format("2006-01-02T15:04:05Z07:00"), a.WindowEnd.Format("2006-01-02T15:04:05Z07:00"))
	if a.Details != "" {
		for _, l := range strings.Split(a.Details, "\n") {
			fmt.Fprintf(b, "    | %s\n", l)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(a.Annotations)) {
		fmt.Fprintf(b, "    %s: %s\n", k, a.Annotations[k])
	}
	fmt.Fprintf(b, "    evidence: %d event(s)", a.EvidenceSeen)
	for i, ev := range a.Evidence {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		if i == 3 {
			b.WriteString(", …")
			break
		}
		fmt.Fprintf(b, "%s%s@%s", sep, ev.Type, ev.Node)
	}
	fmt.Fprintf(b, "\n    id=%s fingerprint=%s rules=%s\n", a.ID, a.Fingerprint, a.RulesVersion)
}

func labelString(l map[string]string) string {
	keys := slices.Sorted(maps.Keys(l))
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + l[k]
	}
	return "{" + strings.Join(pairs, ", ") + "}"
}

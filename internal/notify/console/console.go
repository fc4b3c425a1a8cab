// Package console prints notifications on the router's standard output,
// readably: the receiver that is always there (the quick start, drills).
package console

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/notify"
)

// Console prints notifications readably; it is always available.
type Console struct {
	name string
	o    brief.Options
	mu   sync.Mutex
	w    io.Writer
}

var _ notify.Receiver = (*Console)(nil)

// New writes to w.
func New(name string, w io.Writer, o brief.Options) *Console {
	return &Console{name: name, w: w, o: o}
}

// Name implements notify.Receiver.
func (c *Console) Name() string { return c.name }

// Send implements notify.Receiver.
func (c *Console) Send(_ context.Context, n *notify.Notification) (string, error) {
	var b strings.Builder
	for _, m := range n.Messages {
		if len(n.Messages) > 1 || len(m.Alerts()) > 1 {
			fmt.Fprintf(&b, "--- group %s: %d firing, %d resolved (%s)\n", labelString(m.GroupLabels), len(m.Firing), len(m.Resolved), m.Kind)
		}
		for _, a := range m.Alerts() {
			c.writeAlert(&b, a, m)
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := io.WriteString(c.w, b.String())
	return "", err
}

func (c *Console) writeAlert(b *strings.Builder, a *alert.Alert, m *notify.Message) {
	br := brief.Of(a, c.o)
	fmt.Fprintf(b, "=== %s%s\n", a.Title(), repeatNote(m))
	for _, n := range m.News[a.Fingerprint] {
		fmt.Fprintf(b, "    what changed: %s\n", n)
	}
	fmt.Fprintf(b, "    labels:   %s\n", labelString(a.Labels))
	fmt.Fprintf(b, "    since:    %s\n", c.o.Clock.At(a.Begins()))
	if a.Details != "" {
		for _, l := range strings.Split(a.Details, "\n") {
			fmt.Fprintf(b, "    | %s\n", l)
		}
	}
	for _, n := range br.Notes {
		fmt.Fprintf(b, "    %s: %s\n", strings.ToLower(n.Name), n.Value)
	}
	if lw := br.LastWords; lw != nil {
		fmt.Fprintf(b, "    last kernel words of %s (%s):\n", lw.Node, lw.Source)
		for _, l := range lw.Lines {
			fmt.Fprintf(b, "      %s\n", l)
		}
	}
	fmt.Fprintf(b, "    evidence: %d event(s)\n", a.EvidenceSeen)
	for _, l := range br.Tally {
		fmt.Fprintf(b, "      %s\n", l)
	}
	for _, l := range br.Events {
		fmt.Fprintf(b, "      %s\n", l)
	}
	if br.Link != "" {
		fmt.Fprintf(b, "    page:     %s\n", br.Link)
	}
	fmt.Fprintf(b, "    id=%s fingerprint=%s rules=%s\n", a.ID, a.Fingerprint, a.RulesVersion)
}

func repeatNote(m *notify.Message) string {
	switch {
	case m.Repeat:
		return " (reminder: still firing)"
	case m.Kind == notify.KindUpdate && len(m.News) > 0:
		return " (update)"
	}
	return ""
}

func labelString(l map[string]string) string {
	keys := slices.Sorted(maps.Keys(l))
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + l[k]
	}
	return "{" + strings.Join(pairs, ", ") + "}"
}

package notify

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/aftershock/aftershock/internal/alert"
)

// Console prints alerts readably; it is always available.
type Console struct {
	name string
	mu   sync.Mutex
	w    io.Writer
}

var _ Notifier = (*Console)(nil)

// NewConsole writes to w.
func NewConsole(name string, w io.Writer) *Console { return &Console{name: name, w: w} }

// Name implements Notifier.
func (c *Console) Name() string { return c.name }

// Notify implements Notifier.
func (c *Console) Notify(_ context.Context, a *alert.Alert) error {
	var b strings.Builder
	fmt.Fprintf(&b, "=== %s\n", a.Title())
	keys := make([]string, 0, len(a.Labels))
	for k := range a.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + a.Labels[k]
	}
	fmt.Fprintf(&b, "    labels:   %s\n", strings.Join(pairs, " "))
	fmt.Fprintf(&b, "    window:   %s .. %s (event time)\n", a.WindowStart.Format("2006-01-02T15:04:05Z07:00"), a.WindowEnd.Format("2006-01-02T15:04:05Z07:00"))
	if a.Details != "" {
		for _, l := range strings.Split(a.Details, "\n") {
			fmt.Fprintf(&b, "    | %s\n", l)
		}
	}
	fmt.Fprintf(&b, "    evidence: %d event(s)", a.EvidenceSeen)
	for i, ev := range a.Evidence {
		sep := ", "
		if i == 0 {
			sep = ": "
		}
		if i == 3 {
			b.WriteString(", …")
			break
		}
		fmt.Fprintf(&b, "%s%s@%s", sep, ev.Type, ev.Node)
	}
	fmt.Fprintf(&b, "\n    id=%s fingerprint=%s rules=%s\n", a.ID, a.Fingerprint, a.RulesVersion)
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := io.WriteString(c.w, b.String())
	return err
}

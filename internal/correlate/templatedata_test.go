package correlate

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestTemplateDataBuiltAsRead: the engine builds only the template data
// a rule's templates read (rule.TemplateKeys); each template below reads
// one part, and renders as it would with all of it.
func TestTemplateDataBuiltAsRead(t *testing.T) {
	tests := []struct{ summary, want string }{
		{`{{ range .events }}{{ .node }} {{ end }}`, "n0 n1 n2"},
		{`{{ .first.node }}..{{ .last.node }}`, "n0..n2"},
		{`{{ .event.node }}: {{ .event.data.count }}`, "n2: 2"},
		{`{{ .event.node }} of {{ len .events }}`, "n2 of 3"},
		{`{{ .window.count }} on {{ .window.nodes }}`, "6 on 3"},
		{`{{ .values.n }} {{ .key.cluster }}`, "3 prod"},
		{`{{ range .events }}{{ $.event.node }}{{ end }}`, "n2n2n2"},
		// The data as a whole: every key is there.
		{`{{ len . }} keys, {{ (index . "last").node }}`, "18 keys, n2"},
	}
	for _, tt := range tests {
		t.Run(tt.summary, func(t *testing.T) {
			e := newEngine(t, fmt.Sprintf(`rules:
  - name: storm
    severity: warning
    match: event.type == "dns.timeout"
    group_by: [event.cluster]
    window: 1m
    condition: window.count() >= 6
    values: {n: window.nodes()}
    summary: '%s'
`, strings.ReplaceAll(tt.summary, "'", "''")))
			var got []string
			for i := range 3 {
				for _, a := range feed(e, ev("dns.timeout", fmt.Sprintf("n%d", i), time.Duration(i)*time.Second, map[string]any{"count": 2})) {
					got = append(got, a.Summary)
				}
			}
			if len(got) != 1 || got[0] != tt.want {
				t.Errorf("summaries %q, want [%q]", got, tt.want)
			}
		})
	}
}

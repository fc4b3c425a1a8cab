package reboot

import (
	"strings"

	"github.com/aftershock/aftershock/internal/kernel"
	"github.com/aftershock/aftershock/internal/kmsg"
)

// PackClassifier classifies last words with the kernel signature pack's
// matcher, reading them with the kmsg parsers: the same signatures the live
// kernel watcher uses.
func PackClassifier(m *kernel.Matcher) Classifier {
	return func(format string, lines []string) []Finding {
		sc := kmsg.NewScanner(strings.NewReader(strings.Join(lines, "\n")), kmsg.Options{Format: kmsg.Format(format)})
		var ls []kmsg.Line
		for sc.Scan() {
			ls = append(ls, sc.Line())
		}
		var out []Finding
		for _, f := range m.Scan(ls) {
			out = append(out, Finding{Type: f.Type, Time: f.Time, Data: f.Data})
		}
		return out
	}
}

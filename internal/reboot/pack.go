package reboot

import (
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/kernel"
	"github.com/aftershock/aftershock/internal/kmsg"
)

// PackClassifier classifies last words with the kernel signature pack's
// matcher, reading them with the kmsg parsers: the same signatures the live
// kernel watcher uses.
func PackClassifier(m *kernel.Matcher) Classifier {
	return func(format string, lines []string, d Dating) []Finding {
		o := kmsg.Options{Format: kmsg.Format(format), Location: d.Location}
		if !d.Ref.IsZero() {
			loc := d.Location
			if loc == nil {
				loc = time.Local // kmsg's default too
			}
			o.Year = d.Ref.In(loc).Year()
		}
		sc := kmsg.NewScanner(strings.NewReader(strings.Join(lines, "\n")), o)
		var ls []kmsg.Line
		for sc.Scan() {
			ls = append(ls, sc.Line())
		}
		var out []Finding
		for _, f := range m.Scan(ls) {
			// A bare dmesg (pstore, kdump's dmesg) has only time since boot,
			// which is no cause_time (it read 1970-01-18).
			t := f.WallTime()
			if !d.Ref.IsZero() && t.After(d.Ref.Add(24*time.Hour)) {
				t = t.AddDate(-1, 0, 0) // December's lines read in January
			}
			out = append(out, Finding{Type: f.Type, Time: t, Data: f.Data})
		}
		return out
	}
}

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
			o.Year = d.Ref.In(o.Location).Year()
		}
		sc := kmsg.NewScanner(strings.NewReader(strings.Join(lines, "\n")), o)
		var ls []kmsg.Line
		for sc.Scan() {
			ls = append(ls, sc.Line())
		}
		var out []Finding
		for _, f := range m.Scan(ls) {
			t := wallTime(f)
			if !d.Ref.IsZero() && t.After(d.Ref.Add(24*time.Hour)) {
				t = t.AddDate(-1, 0, 0) // December's lines read in January
			}
			out = append(out, Finding{Type: f.Type, Time: t, Data: f.Data})
		}
		return out
	}
}

// wallTime is when f was logged, zero when its lines carry no date: the
// matcher orders undated findings by epoch + time since boot, and a bare
// dmesg (pstore, kdump's dmesg) has only that, which is no cause_time
// (it read 1970-01-18 for a crash 17 days into its boot).
func wallTime(f kernel.Finding) time.Time {
	if f.Mono >= 0 && f.Time.Equal(time.Unix(0, int64(f.Mono))) {
		return time.Time{}
	}
	return f.Time
}

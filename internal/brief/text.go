package brief

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// syslogPrefix is "Jun 14 13:14:38 host-172-21-128-138 kernel: ".
var syslogPrefix = regexp.MustCompile(`^[A-Z][a-z]{2} [ 0-3]\d (\d\d:\d\d:\d\d) \S+ kernel: `)

// uptimeStamp is dmesg's "[ 3001.000001] ".
var uptimeStamp = regexp.MustCompile(`^\[\s*\d+\.\d+\] `)

// KernelLine shortens a saved kernel log line to its time and message:
// "2020-06-14T13:14:38+0800 host-138 kernel: kernel BUG at …" becomes
// "13:14:38 kernel BUG at …" (in the clock's zone when the line says its
// own); a bare dmesg line keeps its uptime stamp.
func KernelLine(l string, c Clock) string {
	l = strings.TrimRight(l, " \r\n")
	if ts, rest, ok := strings.Cut(l, " "); ok && len(ts) >= 19 && ts[4] == '-' && ts[10] == 'T' {
		for _, layout := range []string{"2006-01-02T15:04:05-0700", time.RFC3339Nano, "2006-01-02T15:04:05.999999-0700"} {
			if t, err := time.Parse(layout, ts); err == nil {
				if _, msg, ok := strings.Cut(rest, " kernel: "); ok {
					return c.Time(t) + " " + uptimeStamp.ReplaceAllString(msg, "")
				}
				return c.Time(t) + " " + rest
			}
		}
	}
	if m := syslogPrefix.FindStringSubmatchIndex(l); m != nil {
		return l[m[2]:m[3]] + " " + uptimeStamp.ReplaceAllString(l[m[1]:], "")
	}
	return l
}

// Fold lists values with their counts, most frequent first, each once:
// [java java nginx java] → "java ×3, nginx". A reader sees 150 OOM kills
// of java as one fact, not 150 words.
func Fold(values []string, limit int) string {
	count := map[string]int{}
	var order []string
	for _, v := range values {
		if count[v] == 0 {
			order = append(order, v)
		}
		count[v]++
	}
	slices.SortStableFunc(order, func(a, b string) int { return count[b] - count[a] })
	var parts []string
	for i, v := range order {
		if limit > 0 && i == limit {
			parts = append(parts, fmt.Sprintf("and %d more", len(order)-limit))
			break
		}
		if count[v] > 1 {
			v = fmt.Sprintf("%s ×%d", v, count[v])
		}
		parts = append(parts, v)
	}
	return strings.Join(parts, ", ")
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func sortStrings(s []string) { slices.Sort(s) }

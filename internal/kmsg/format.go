package kmsg

import (
	"fmt"
	"strings"
	"time"
)

// Format is the layout of a saved kernel log.
type Format string

// Formats the Scanner reads.
const (
	// FormatAuto detects the format from the first lines.
	FormatAuto Format = ""
	// FormatKmsg is raw /dev/kmsg records: "prio,seq,usec,flags;message".
	FormatKmsg Format = "kmsg"
	// FormatDmesg is dmesg output: "[  123.456789] message", with the
	// optional "<N>" level prefix of dmesg -r and pstore records, or dmesg
	// -T's "[Sun Jun 14 13:14:38 2020] message". Lines without a
	// timestamp are taken as they are.
	FormatDmesg Format = "dmesg"
	// FormatJournal is syslog/journalctl output: "Jun 14 13:14:38 host
	// kernel: message" (short, short-precise) or with an RFC 3339 time
	// (short-iso, short-iso-precise, rsyslog). Lines of other programs are
	// skipped; "-- Reboot --" becomes a Reboot line.
	FormatJournal Format = "journal"
)

// ParseFormat checks a --format value.
func ParseFormat(s string) (Format, error) {
	switch f := Format(s); f {
	case FormatAuto, FormatKmsg, FormatDmesg, FormatJournal:
		return f, nil
	case "auto":
		return FormatAuto, nil
	}
	return "", fmt.Errorf("format %q: want kmsg, dmesg, journal or auto", s)
}

// parseDmesgLine parses one dmesg output line. Lines that carry no
// timestamp keep Mono negative and their whole text.
func parseDmesgLine(s string, o *Options) Line {
	l := Line{Mono: -1, Level: -1}
	rest := s
	if lv, fac, r, ok := parseLevelPrefix(rest); ok {
		l.Level, l.Facility, rest = lv, fac, r
	}
	if mono, r, ok := parseBracketTime(rest); ok {
		l.Mono = mono
		rest = r
		if !o.BootTime.IsZero() {
			l.Time = o.BootTime.Add(mono)
		}
	} else if t, r, ok := parseCtime(rest, o.loc()); ok {
		l.Time = t
		rest = r
	}
	l.Text = stripCaller(rest)
	return l
}

// parseCtime parses dmesg -T's "[Sun Jun 14 13:14:38 2020] ".
func parseCtime(s string, loc *time.Location) (time.Time, string, bool) {
	const layout = "Mon Jan _2 15:04:05 2006"
	if len(s) < len(layout)+2 || s[0] != '[' || s[len(layout)+1] != ']' {
		return time.Time{}, s, false
	}
	t, err := time.ParseInLocation(layout, s[1:len(layout)+1], loc)
	if err != nil {
		return time.Time{}, s, false
	}
	rest := s[len(layout)+2:]
	if len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	return t, rest, true
}

// journalState carries what syslog timestamps leave out: the year, which
// advances when the month goes back (a log spanning New Year).
type journalState struct {
	year      int
	lastMonth time.Month
	zones     map[int]*time.Location
}

// parseJournalLine parses one syslog/journalctl line. kernel reports
// whether it is a kernel line; other programs' lines are skipped by the
// caller. ok is false when the line has no recognisable timestamp.
func parseJournalLine(s string, o *Options, st *journalState) (l Line, kernel, ok bool) {
	l = Line{Mono: -1, Level: -1}
	if strings.HasPrefix(s, "-- ") {
		// journalctl boundaries: "-- Reboot --", "-- Boot <id> --"; the
		// rest ("-- Logs begin at …", "-- No entries --") are notes.
		if strings.HasPrefix(s, "-- Reboot --") || strings.HasPrefix(s, "-- Boot ") {
			l.Reboot = true
			return l, true, true
		}
		return l, false, true
	}
	t, rest, ok := parseSyslogTime(s, o, st)
	if !ok {
		return l, false, false
	}
	l.Time = t
	// "host ident[pid]: message": skip the host, then require kernel:.
	sp := strings.IndexByte(rest, ' ')
	if sp < 0 {
		return l, false, false
	}
	rest = rest[sp+1:]
	const ident = "kernel: "
	if !strings.HasPrefix(rest, ident) {
		return l, false, true
	}
	rest = rest[len(ident):]
	// rsyslog's kern.log keeps the printk timestamp in the message.
	if mono, r, ok := parseBracketTime(rest); ok {
		l.Mono = mono
		rest = r
	}
	l.Text = stripCaller(rest)
	return l, true, true
}

var months = map[string]time.Month{
	"Jan": 1, "Feb": 2, "Mar": 3, "Apr": 4, "May": 5, "Jun": 6,
	"Jul": 7, "Aug": 8, "Sep": 9, "Oct": 10, "Nov": 11, "Dec": 12,
}

// parseSyslogTime parses "Jun 14 13:14:38[.123456] " or an RFC 3339 time
// "2020-06-14T13:14:38[.123456](Z|+08:00|+0800) " and returns the rest.
func parseSyslogTime(s string, o *Options, st *journalState) (time.Time, string, bool) {
	if len(s) >= 20 && s[4] == '-' && s[10] == 'T' {
		return parseISOTime(s, st)
	}
	if len(s) < 16 || s[3] != ' ' || s[6] != ' ' || s[9] != ':' || s[12] != ':' {
		return time.Time{}, s, false
	}
	mon, ok := months[s[:3]]
	if !ok {
		return time.Time{}, s, false
	}
	day, ok1 := num2(s[4:6])
	h, ok2 := num2(s[7:9])
	m, ok3 := num2(s[10:12])
	sec, ok4 := num2(s[13:15])
	if !ok1 || !ok2 || !ok3 || !ok4 || day < 1 || day > 31 || h > 23 || m > 59 || sec > 60 {
		return time.Time{}, s, false
	}
	i := 15
	nsec, i := fraction(s, i)
	if i >= len(s) || s[i] != ' ' {
		return time.Time{}, s, false
	}
	if st.lastMonth != 0 && mon < st.lastMonth && st.lastMonth-mon > 6 {
		st.year++
	}
	st.lastMonth = mon
	return time.Date(st.year, mon, day, h, m, sec, nsec, o.loc()), s[i+1:], true
}

func parseISOTime(s string, st *journalState) (time.Time, string, bool) {
	y1, ok1 := num2(s[0:2])
	y2, ok2 := num2(s[2:4])
	mon, ok3 := num2(s[5:7])
	day, ok4 := num2(s[8:10])
	h, ok5 := num2(s[11:13])
	m, ok6 := num2(s[14:16])
	sec, ok7 := num2(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7) || s[7] != '-' || s[13] != ':' || s[16] != ':' ||
		mon < 1 || mon > 12 || day < 1 || day > 31 || h > 23 || m > 59 || sec > 60 {
		return time.Time{}, s, false
	}
	nsec, i := fraction(s, 19)
	if i >= len(s) {
		return time.Time{}, s, false
	}
	var off int
	switch s[i] {
	case 'Z':
		i++
	case '+', '-':
		sign := 1
		if s[i] == '-' {
			sign = -1
		}
		i++
		if i+4 > len(s) {
			return time.Time{}, s, false
		}
		oh, okh := num2(s[i : i+2])
		i += 2
		if s[i] == ':' {
			i++
		}
		if i+2 > len(s) {
			return time.Time{}, s, false
		}
		om, okm := num2(s[i : i+2])
		i += 2
		if !okh || !okm || oh > 23 || om > 59 {
			return time.Time{}, s, false
		}
		off = sign * (oh*3600 + om*60)
	default:
		return time.Time{}, s, false
	}
	if i >= len(s) || s[i] != ' ' {
		return time.Time{}, s, false
	}
	loc := st.zones[off]
	if loc == nil {
		if st.zones == nil {
			st.zones = map[int]*time.Location{}
		}
		loc = time.FixedZone("", off)
		if off == 0 {
			loc = time.UTC
		}
		st.zones[off] = loc
	}
	return time.Date(y1*100+y2, time.Month(mon), day, h, m, sec, nsec, loc), s[i+1:], true
}

// num2 parses two digits; a leading space counts as zero (syslog pads days).
func num2(s string) (int, bool) {
	if len(s) != 2 {
		return 0, false
	}
	a, b := s[0], s[1]
	if a == ' ' {
		a = '0'
	}
	if a < '0' || a > '9' || b < '0' || b > '9' {
		return 0, false
	}
	return int(a-'0')*10 + int(b-'0'), true
}

// fraction parses an optional ".123456" at s[i:] into nanoseconds.
func fraction(s string, i int) (int, int) {
	if i >= len(s) || s[i] != '.' {
		return 0, i
	}
	ns, digits := 0, 0
	for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if digits < 9 {
			ns = ns*10 + int(s[i]-'0')
			digits++
		}
	}
	for ; digits < 9; digits++ {
		ns *= 10
	}
	return ns, i
}

// Detect guesses the format of a saved log from its first lines: the
// format most of them parse as wins, dmesg when none does.
func Detect(sample string) Format {
	var kmsg, dmesg, journal, seen int
	o := &Options{}
	st := &journalState{year: 2000}
	for line := range strings.Lines(sample) {
		line = strings.TrimRight(line, "\r\n")
		if line == "" || line[0] == ' ' {
			continue
		}
		if seen++; seen > 64 {
			break
		}
		if _, ok := parseKmsgRecord(line); ok {
			kmsg++
			continue
		}
		if l := parseDmesgLine(line, o); l.Mono >= 0 || !l.Time.IsZero() {
			dmesg++
			continue
		}
		if _, _, ok := parseJournalLine(line, o, st); ok {
			journal++
		}
	}
	switch {
	case kmsg > 0 && kmsg >= dmesg && kmsg >= journal:
		return FormatKmsg
	case journal > dmesg:
		return FormatJournal
	}
	return FormatDmesg
}

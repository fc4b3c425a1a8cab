// Package kmsg reads kernel log lines: live from the /dev/kmsg device
// (Reader) and offline from saved logs in kmsg, dmesg and journal/syslog
// formats (Scanner). Both produce Line values that the signature matcher of
// internal/kernel classifies.
//
// Parsing is allocation-free per line where it can be: parsers take and
// return substrings of their input, and the Scanner converts its read buffer
// to a string once per block, not once per line.
package kmsg

import (
	"strings"
	"time"
)

// Line is one kernel log line.
type Line struct {
	// Seq is the /dev/kmsg sequence number; 0 when the format has none.
	Seq uint64
	// Mono is the time since boot of the kernel's timestamp; negative when
	// the format carries none (journal, plain dmesg).
	Mono time.Duration
	// Time is the wall-clock time: boot time + Mono for kmsg and dmesg when
	// the boot time is known, or the syslog/journal timestamp. Zero when
	// unknown.
	Time time.Time
	// Text is the message, unescaped, without timestamp or host prefixes.
	Text string
	// Level is the syslog level, 0 (emerg) to 7 (debug); -1 when unknown.
	Level int8
	// Facility is the syslog facility; 0 is the kernel. User space can write
	// to /dev/kmsg (facility 1 and up): those lines are not kernel reports.
	Facility int8
	// Reboot marks a boundary, not a message: the log says the system
	// rebooted here (journalctl's "-- Reboot --"). Text is empty.
	Reboot bool
}

// IsKernel reports whether the line was written by the kernel itself.
func (l *Line) IsKernel() bool { return l.Facility == 0 && !l.Reboot }

// parseKmsgRecord parses the first line of a /dev/kmsg record,
// "prio,seq,usec,flags[,more];message" (Documentation/ABI/testing/dev-kmsg).
// Continuation lines (" KEY=value") are not passed here.
func parseKmsgRecord(s string) (Line, bool) {
	semi := strings.IndexByte(s, ';')
	if semi < 0 {
		return Line{}, false
	}
	hdr := s[:semi]
	prio, hdr, ok := cutUint(hdr)
	if !ok || prio > 1023 {
		return Line{}, false
	}
	seq, hdr, ok := cutUint(hdr)
	if !ok {
		return Line{}, false
	}
	usec, _, ok := cutUint(hdr)
	if !ok || usec > uint64(1<<63-1)/1000 {
		return Line{}, false
	}
	return Line{
		Seq:      seq,
		Mono:     time.Duration(usec) * time.Microsecond,
		Text:     unescapeKmsg(s[semi+1:]),
		Level:    int8(prio & 7),
		Facility: int8(prio >> 3),
	}, true
}

// cutUint parses a decimal number up to the next comma (or the end) and
// returns the rest after the comma.
func cutUint(s string) (n uint64, rest string, ok bool) {
	i := 0
	for ; i < len(s) && s[i] != ','; i++ {
		c := s[i]
		if c < '0' || c > '9' || n > (1<<64-1)/10-1 {
			return 0, "", false
		}
		n = n*10 + uint64(c-'0')
	}
	if i == 0 {
		return 0, "", false
	}
	if i < len(s) {
		i++
	}
	return n, s[i:], true
}

// unescapeKmsg undoes the kernel's \xNN escaping of non-printable bytes
// and backslashes in /dev/kmsg text. It allocates only when there is
// something to undo.
func unescapeKmsg(s string) string {
	i := strings.Index(s, `\x`)
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			hi, ok1 := unhex(s[i+2])
			lo, ok2 := unhex(s[i+3])
			if ok1 && ok2 {
				b = append(b, hi<<4|lo)
				i += 3
				continue
			}
		}
		b = append(b, s[i])
	}
	return string(b)
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// parseBracketTime parses a printk timestamp "[  123.456789]" at the start
// of s and returns it with the rest of the line after one space.
func parseBracketTime(s string) (time.Duration, string, bool) {
	if len(s) < 3 || s[0] != '[' {
		return 0, s, false
	}
	i := 1
	for i < len(s) && s[i] == ' ' {
		i++
	}
	var secs, frac uint64
	digits, fdigits := 0, 0
	for ; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if digits > 12 {
			return 0, s, false
		}
		secs = secs*10 + uint64(s[i]-'0')
		digits++
	}
	// Beyond ~285 years of uptime the nanoseconds overflow: not a timestamp.
	if digits == 0 || secs > 9e9 || i >= len(s) || s[i] != '.' {
		return 0, s, false
	}
	for i++; i < len(s) && s[i] >= '0' && s[i] <= '9'; i++ {
		if fdigits < 9 {
			frac = frac*10 + uint64(s[i]-'0')
			fdigits++
		}
	}
	if fdigits == 0 || i >= len(s) || s[i] != ']' {
		return 0, s, false
	}
	for ; fdigits < 9; fdigits++ {
		frac *= 10
	}
	rest := s[i+1:]
	if len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	return time.Duration(secs)*time.Second + time.Duration(frac), rest, true
}

// stripCaller removes the "[    T123] " / "[     C3] " caller id that
// kernels built with CONFIG_PRINTK_CALLER print after the timestamp.
func stripCaller(s string) string {
	if len(s) < 4 || s[0] != '[' {
		return s
	}
	end := strings.IndexByte(s, ']')
	if end < 3 || end > 12 {
		return s
	}
	id := strings.TrimLeft(s[1:end], " ")
	if len(id) < 2 || (id[0] != 'T' && id[0] != 'C') {
		return s
	}
	for i := 1; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return s
		}
	}
	rest := s[end+1:]
	if len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	return rest
}

// parseLevelPrefix parses a "<N>" syslog priority prefix (dmesg -r, pstore).
func parseLevelPrefix(s string) (level, facility int8, rest string, ok bool) {
	if len(s) < 3 || s[0] != '<' {
		return -1, 0, s, false
	}
	end := strings.IndexByte(s[:min(len(s), 6)], '>')
	if end < 2 {
		return -1, 0, s, false
	}
	n, _, ok := cutUint(s[1:end])
	if !ok || n > 1023 {
		return -1, 0, s, false
	}
	return int8(n & 7), int8(n >> 3), s[end+1:], true
}

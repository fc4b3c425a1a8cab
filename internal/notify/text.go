package notify

import (
	"unicode/utf8"
)

// Truncate shortens s to at most limit characters (runes), the marker
// included, cutting on a character boundary.
func Truncate(s string, limit int, marker string) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	keep := limit - utf8.RuneCountInString(marker)
	if keep <= 0 {
		return TruncateBytes(marker, limit*utf8.UTFMax, "")
	}
	i, n := 0, 0
	for i < len(s) && n < keep {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return s[:i] + marker
}

// TruncateBytes shortens s to at most limit bytes, the marker included,
// never cutting a UTF-8 character in two.
func TruncateBytes(s string, limit int, marker string) string {
	if len(s) <= limit {
		return s
	}
	keep := limit - len(marker)
	if keep < 0 {
		keep, marker = limit, ""
	}
	return s[:utf8Cut(s, keep)] + marker
}

// utf8Cut returns the largest i <= n at which s may be cut without
// splitting a character.
func utf8Cut(s string, n int) int {
	if n >= len(s) {
		return len(s)
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return n
}

// SplitBytes cuts s into pieces of at most limit bytes, preferring to cut
// after a newline and never inside a UTF-8 character.
func SplitBytes(s string, limit int) []string {
	if limit < utf8.UTFMax {
		limit = utf8.UTFMax
	}
	var out []string
	for len(s) > limit {
		cut := utf8Cut(s, limit)
		for i := cut - 1; i > limit/2; i-- { // a newline in the second half
			if s[i] == '\n' {
				cut = i + 1
				break
			}
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" || len(out) == 0 {
		out = append(out, s)
	}
	return out
}

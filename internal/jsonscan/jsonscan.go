// Package jsonscan reads JSON in one pass, without reflection, for the
// decoders of the formats the router reads most (events, alerts). A
// Scanner validates what it reads as RFC 8259 does; wherever it meets
// something its caller would have to interpret the way encoding/json does
// (escapes it does not decode, invalid UTF-8, numbers that are not plain
// integers), it reports false, and the caller falls back to encoding/json,
// which gives the exact result or the precise error. So a fast decoder
// built on it never changes what is accepted or how. Writer and
// AppendString write JSON as encoding/json does, for the hand-written
// encoders.
package jsonscan

import (
	"strconv"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth bounds the nesting Value skips; deeper input is left to
// encoding/json (whose own limit is far higher).
const MaxDepth = 64

// Scanner reads one JSON text. The zero value reads nothing; use New.
type Scanner struct {
	b []byte
	i int
}

// New returns a scanner at the start of b.
func New(b []byte) Scanner { return Scanner{b: b} }

// Pos is the offset of the next byte to read.
func (s *Scanner) Pos() int { return s.i }

// Since returns the input from offset from up to the current position
// (aliasing it).
func (s *Scanner) Since(from int) []byte { return s.b[from:s.i] }

// Peek returns the next byte, or 0 at the end.
func (s *Scanner) Peek() byte {
	if s.i < len(s.b) {
		return s.b[s.i]
	}
	return 0
}

// WS skips white space.
func (s *Scanner) WS() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// Eat consumes c if it is next.
func (s *Scanner) Eat(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// End reports whether only white space is left.
func (s *Scanner) End() bool {
	s.WS()
	return s.i == len(s.b)
}

// PlainString reads a string without escapes or control characters and
// returns its contents, aliasing the input; its UTF-8 is not checked.
func (s *Scanner) PlainString() ([]byte, bool) {
	if !s.Eat('"') {
		return nil, false
	}
	start := s.i
	if c, ok := s.run(); !ok || c != '"' {
		return nil, false
	}
	str := s.b[start:s.i]
	s.i++
	return str, true
}

// String reads a string and returns its value as encoding/json decodes it.
// Strings with invalid UTF-8 or UTF-16 surrogate escapes (which
// encoding/json replaces with U+FFFD) report false.
func (s *Scanner) String() (string, bool) {
	if !s.Eat('"') {
		return "", false
	}
	var out []byte // nil until the first escape: most strings have none
	start := s.i
	for {
		c, ok := s.run()
		if !ok || c < 0x20 {
			return "", false
		}
		if c == '"' {
			str := s.b[start:s.i]
			if out != nil {
				str = append(out, str...)
			}
			s.i++
			if !utf8.Valid(str) {
				return "", false
			}
			return string(str), true
		}
		out = append(out, s.b[start:s.i]...)
		r, ok := s.escape()
		if !ok || utf16.IsSurrogate(r) {
			return "", false
		}
		out = utf8.AppendRune(out, r)
		start = s.i
	}
}

// run moves past plain string content and returns the byte it stopped at
// (a quote, a backslash or a control character), or false at the end.
func (s *Scanner) run() (byte, bool) {
	for s.i < len(s.b) {
		if c := s.b[s.i]; special[c] {
			return c, true
		}
		s.i++
	}
	return 0, false
}

// escape reads the escape at s (a backslash) and returns the rune it
// stands for; a \u escape of half a surrogate pair is returned as it is.
func (s *Scanner) escape() (rune, bool) {
	if len(s.b)-s.i < 2 {
		return 0, false
	}
	e := s.b[s.i+1]
	s.i += 2
	switch e {
	case '"', '\\', '/':
		return rune(e), true
	case 'b':
		return '\b', true
	case 'f':
		return '\f', true
	case 'n':
		return '\n', true
	case 'r':
		return '\r', true
	case 't':
		return '\t', true
	case 'u':
		if len(s.b)-s.i < 4 {
			return 0, false
		}
		var r rune
		for _, h := range s.b[s.i : s.i+4] {
			d, ok := hexDigit(h)
			if !ok {
				return 0, false
			}
			r = r<<4 | d
		}
		s.i += 4
		return r, true
	}
	return 0, false
}

func hexDigit(c byte) (rune, bool) {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0'), true
	case 'a' <= c && c <= 'f':
		return rune(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return rune(c-'A') + 10, true
	}
	return 0, false
}

// Int reads a number that is a plain integer fitting bits; fractions,
// exponents and overflow report false.
func (s *Scanner) Int(bits int) (int64, bool) {
	start := s.i
	s.Eat('-')
	if !s.Eat('0') && !s.digits1to9() {
		return 0, false
	}
	if c := s.Peek(); c == '.' || c == 'e' || c == 'E' {
		return 0, false
	}
	n, err := strconv.ParseInt(string(s.b[start:s.i]), 10, bits)
	return n, err == nil
}

func (s *Scanner) digits1to9() bool {
	if c := s.Peek(); c < '1' || c > '9' {
		return false
	}
	s.digits()
	return true
}

// Time reads a time as encoding/json does: time.Time's UnmarshalJSON on
// the quoted text, which must hold no escapes.
func (s *Scanner) Time(t *time.Time) bool {
	start := s.i
	if _, ok := s.PlainString(); !ok {
		return false
	}
	return t.UnmarshalJSON(s.b[start:s.i]) == nil
}

// Strings reads an array of strings; [] is an empty slice, not nil, as
// encoding/json decodes it.
func (s *Scanner) Strings() ([]string, bool) {
	out := []string{}
	ok := s.Array(func() bool {
		v, ok := s.String()
		out = append(out, v)
		return ok
	})
	return out, ok
}

// Bool reads true or false.
func (s *Scanner) Bool() (v, ok bool) {
	switch {
	case s.lit("true"):
		return true, true
	case s.lit("false"):
		return false, true
	}
	return false, false
}

// Object reads an object whose keys are plain strings, calling member with
// each key (aliasing the input) positioned at its value, which member must
// read. Duplicate keys are member's to refuse.
func (s *Scanner) Object(member func(key []byte) bool) bool {
	return s.members(s.PlainString, member)
}

// members reads an object, its keys with key.
func (s *Scanner) members(key func() ([]byte, bool), member func(key []byte) bool) bool {
	return s.list('{', '}', func() bool {
		k, ok := key()
		if !ok {
			return false
		}
		s.WS()
		if !s.Eat(':') {
			return false
		}
		s.WS()
		return member(k)
	})
}

// Array reads an array, calling elem positioned at each element, which
// elem must read.
func (s *Scanner) Array(elem func() bool) bool { return s.list('[', ']', elem) }

// list reads open, items separated by commas (each read by item), close.
func (s *Scanner) list(open, close byte, item func() bool) bool {
	if !s.Eat(open) {
		return false
	}
	s.WS()
	if s.Eat(close) {
		return true
	}
	for {
		s.WS()
		if !item() {
			return false
		}
		s.WS()
		if s.Eat(',') {
			continue
		}
		return s.Eat(close)
	}
}

// Value validates one JSON value (RFC 8259) and moves past it, nested at
// most MaxDepth deep.
func (s *Scanner) Value() bool { return s.value(0) }

func (s *Scanner) value(depth int) bool {
	if depth > MaxDepth || s.i >= len(s.b) {
		return false
	}
	switch c := s.b[s.i]; {
	case c == '{':
		return s.members(func() ([]byte, bool) { return nil, s.skipString() },
			func([]byte) bool { return s.value(depth + 1) })
	case c == '[':
		return s.Array(func() bool { return s.value(depth + 1) })
	case c == '"':
		return s.skipString()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	default:
		return s.num()
	}
}

func (s *Scanner) lit(l string) bool {
	if len(s.b)-s.i >= len(l) && string(s.b[s.i:s.i+len(l)]) == l {
		s.i += len(l)
		return true
	}
	return false
}

// special marks the bytes that end a run of plain string content: the
// quote, the backslash and control characters. A table lookup per byte is
// what makes long strings (kernel lines, summaries) cheap to skip.
var special = func() (t [256]bool) {
	for c := range 0x20 {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

// skipString validates a string, escapes included.
func (s *Scanner) skipString() bool {
	if !s.Eat('"') {
		return false
	}
	for {
		c, ok := s.run()
		switch {
		case !ok || c < 0x20:
			return false
		case c == '"':
			s.i++
			return true
		}
		if _, ok := s.escape(); !ok {
			return false
		}
	}
}

// num validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *Scanner) num() bool {
	s.Eat('-')
	if !s.Eat('0') && !s.digits1to9() {
		return false
	}
	if s.Eat('.') && !s.digits() {
		return false
	}
	if c := s.Peek(); c == 'e' || c == 'E' {
		s.i++
		if !s.Eat('+') {
			s.Eat('-')
		}
		if !s.digits() {
			return false
		}
	}
	return true
}

func (s *Scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

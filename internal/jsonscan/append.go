package jsonscan

import (
	"strconv"
	"time"
	"unicode/utf8"
)

// htmlSafe marks the ASCII bytes json.Marshal writes as they are.
var htmlSafe = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string exactly as json.Marshal writes
// it: HTML characters, U+2028 and U+2029 escaped, invalid UTF-8 replaced
// (for the hand-written encoders that must match encoding/json).
func AppendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if htmlSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Writer appends JSON for the hand-written encoders (alerts, notification
// logs). OK turns false at the first value it cannot write as encoding/json
// would (a time outside years 0–9999); the caller then uses encoding/json.
type Writer struct {
	B  []byte
	OK bool
}

// Raw appends s as it is (punctuation, keys).
func (w *Writer) Raw(s string) { w.B = append(w.B, s...) }

// Str appends s as a JSON string (AppendString).
func (w *Writer) Str(s string) { w.B = AppendString(w.B, s) }

// Int appends n.
func (w *Writer) Int(n int64) { w.B = strconv.AppendInt(w.B, n, 10) }

// Bool appends v.
func (w *Writer) Bool(v bool) { w.B = strconv.AppendBool(w.B, v) }

// Time appends t as json.Marshal does (RFC 3339 with nanoseconds, quoted).
func (w *Writer) Time(t time.Time) {
	w.Raw(`"`)
	var err error
	if w.B, err = t.AppendText(w.B); err != nil {
		w.OK = false
	}
	w.Raw(`"`)
}

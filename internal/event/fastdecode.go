package event

import (
	"unicode/utf8"

	"github.com/aftershock/aftershock/internal/jsonscan"
)

// decodeFast parses the common case of an event — a flat object of plain
// strings, a time and a data object — in one pass without reflection. It
// returns false for anything unusual (escapes, nulls, non-string attributes,
// case-folded keys, invalid JSON), and Decode then takes encoding/json's
// path, which gives the precise error or the exact result. So the fast path
// never changes what is accepted or how; FuzzDecodeParity holds it to that.
func decodeFast(b []byte, e *Event) bool {
	s := jsonscan.New(b)
	s.WS()
	return ScanFast(&s, e) && s.End()
}

// ScanFast reads the event object at s into e the way encoding/json would,
// without validating the event, when it can do so without reflection;
// false means it could not say (decode with encoding/json). A decoder that
// holds events inside its own format (an alert's evidence) uses it.
func ScanFast(s *jsonscan.Scanner, e *Event) bool {
	return s.Object(func(key []byte) bool { return attr(s, key, e) })
}

// attr decodes the value of one top-level attribute into e.
func attr(s *jsonscan.Scanner, key []byte, e *Event) bool {
	var dst *string
	common := false      // a value the intern table holds
	switch string(key) { // no allocation: the compiler special-cases this
	case "specversion":
		dst, common = &e.SpecVersion, true
	case "id":
		dst = &e.ID
	case "source":
		dst = &e.Source
	case "type":
		dst, common = &e.Type, true
	case "subject":
		dst = &e.Subject
	case "datacontenttype":
		dst, common = &e.DataContentType, true
	case "cluster":
		dst = &e.Cluster
	case "node":
		dst = &e.Node
	case "time":
		return s.Time(&e.Time)
	case "data":
		if s.Peek() != '{' {
			return false
		}
		start := s.Pos()
		if !s.Value() {
			return false
		}
		e.Data = append([]byte(nil), s.Since(start)...)
		return true
	default:
		if foldsToAttr(key) {
			return false // encoding/json matches keys case-insensitively
		}
		return s.Value()
	}
	v, ok := s.PlainString()
	if !ok || !utf8.Valid(v) {
		return false
	}
	if common {
		*dst = intern(v)
	} else {
		*dst = string(v)
	}
	return true
}

var attrNames = []string{"specversion", "id", "source", "type", "subject", "datacontenttype", "cluster", "node", "time", "data"}

func foldsToAttr(key []byte) bool {
	for _, n := range attrNames {
		if len(n) == len(key) && equalFoldASCII(key, n) {
			return true
		}
	}
	// encoding/json's folding also maps the Kelvin sign and long s to k and s.
	return !isASCII(key) && len(key) <= 3*len("datacontenttype")
}

func equalFoldASCII(b []byte, s string) bool {
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// internTable holds the attribute values every event repeats (specversion,
// content type, common types), so decoding them allocates nothing.
var internTable = func() map[string]string {
	m := map[string]string{SpecVersion: SpecVersion, "application/json": "application/json"}
	for _, t := range Catalogue {
		m[t.Type] = t.Type
	}
	return m
}()

func intern(b []byte) string {
	if s, ok := internTable[string(b)]; ok {
		return s
	}
	return string(b)
}

package event

import (
	"unicode/utf8"
)

// decodeFast parses the common case of an event — a flat object of plain
// strings, a time and a data object — in one pass without reflection. It
// returns false for anything unusual (escapes, nulls, non-string attributes,
// case-folded keys, invalid JSON), and Decode then takes encoding/json's
// path, which gives the precise error or the exact result. So the fast path
// never changes what is accepted or how; FuzzDecodeParity holds it to that.
func decodeFast(b []byte, e *Event) bool {
	p := parser{b: b}
	p.ws()
	if !p.eat('{') {
		return false
	}
	p.ws()
	if p.eat('}') {
		return p.end()
	}
	for {
		p.ws()
		key, ok := p.plainString()
		if !ok {
			return false
		}
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		if !p.attr(key, e) {
			return false
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		if p.eat('}') {
			return p.end()
		}
		return false
	}
}

type parser struct {
	b []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) end() bool {
	p.ws()
	return p.i == len(p.b)
}

// plainString reads a string without escapes or control characters and
// returns its contents (aliasing the input).
func (p *parser) plainString() ([]byte, bool) {
	if !p.eat('"') {
		return nil, false
	}
	start := p.i
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, true
		case c == '\\' || c < 0x20:
			return nil, false
		}
		p.i++
	}
	return nil, false
}

// attr decodes the value of one top-level attribute into e.
func (p *parser) attr(key []byte, e *Event) bool {
	var dst *string
	switch string(key) { // no allocation: the compiler special-cases this
	case "specversion":
		dst = &e.SpecVersion
	case "id":
		dst = &e.ID
	case "source":
		dst = &e.Source
	case "type":
		dst = &e.Type
	case "subject":
		dst = &e.Subject
	case "datacontenttype":
		dst = &e.DataContentType
	case "cluster":
		dst = &e.Cluster
	case "node":
		dst = &e.Node
	case "time":
		start := p.i
		if _, ok := p.plainString(); !ok {
			return false
		}
		return e.Time.UnmarshalJSON(p.b[start:p.i]) == nil
	case "data":
		if p.i >= len(p.b) || p.b[p.i] != '{' {
			return false
		}
		start := p.i
		if !p.value(0) {
			return false
		}
		e.Data = append([]byte(nil), p.b[start:p.i]...)
		return true
	default:
		if foldsToAttr(key) {
			return false // encoding/json matches keys case-insensitively
		}
		return p.value(0)
	}
	s, ok := p.plainString()
	if !ok || !utf8.Valid(s) {
		return false
	}
	*dst = intern(s)
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

// value validates one JSON value (RFC 8259) and moves past it. Strings may
// hold escapes here: they stay raw inside data.
func (p *parser) value(depth int) bool {
	if depth > 64 || p.i >= len(p.b) {
		return false
	}
	switch c := p.b[p.i]; {
	case c == '{':
		p.i++
		p.ws()
		if p.eat('}') {
			return true
		}
		for {
			p.ws()
			if !p.str() {
				return false
			}
			p.ws()
			if !p.eat(':') {
				return false
			}
			p.ws()
			if !p.value(depth + 1) {
				return false
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			return p.eat('}')
		}
	case c == '[':
		p.i++
		p.ws()
		if p.eat(']') {
			return true
		}
		for {
			p.ws()
			if !p.value(depth + 1) {
				return false
			}
			p.ws()
			if p.eat(',') {
				continue
			}
			return p.eat(']')
		}
	case c == '"':
		return p.str()
	case c == 't':
		return p.lit("true")
	case c == 'f':
		return p.lit("false")
	case c == 'n':
		return p.lit("null")
	default:
		return p.num()
	}
}

func (p *parser) lit(s string) bool {
	if len(p.b)-p.i >= len(s) && string(p.b[p.i:p.i+len(s)]) == s {
		p.i += len(s)
		return true
	}
	return false
}

// str validates a string with escapes.
func (p *parser) str() bool {
	if !p.eat('"') {
		return false
	}
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return true
		case c < 0x20:
			return false
		case c == '\\':
			p.i++
			if p.i >= len(p.b) {
				return false
			}
			switch p.b[p.i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i++
			case 'u':
				if len(p.b)-p.i < 5 {
					return false
				}
				for _, h := range p.b[p.i+1 : p.i+5] {
					if !isHex(h) {
						return false
					}
				}
				p.i += 5
			default:
				return false
			}
		default:
			p.i++
		}
	}
	return false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// num validates -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (p *parser) num() bool {
	p.eat('-')
	if p.eat('0') {
		// no leading zeros
	} else if p.i < len(p.b) && '1' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.digits()
	} else {
		return false
	}
	if p.eat('.') && !p.digits() {
		return false
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if !p.eat('+') {
			p.eat('-')
		}
		if !p.digits() {
			return false
		}
	}
	return true
}

func (p *parser) digits() bool {
	start := p.i
	for p.i < len(p.b) && '0' <= p.b[p.i] && p.b[p.i] <= '9' {
		p.i++
	}
	return p.i > start
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

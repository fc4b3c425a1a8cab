// Package event defines aftershock's CloudEvents 1.0 envelope (structured JSON
// mode), its validation, its NATS subjects and the catalogue of event types.
package event

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
)

// SpecVersion is the only CloudEvents version accepted.
const SpecVersion = "1.0"

// MaxSize is the largest encoded event accepted anywhere (design.md).
const MaxSize = 64 << 10

// ContentType is the media type of a structured-mode CloudEvent.
const ContentType = "application/cloudevents+json"

// Event is a CloudEvent in structured JSON mode with aftershock's extension
// attributes cluster and node. Data stays raw JSON: each consumer decodes only
// what it reads, and the router decodes it once per event.
type Event struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            time.Time       `json:"time"`
	Subject         string          `json:"subject,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Cluster         string          `json:"cluster"`
	Node            string          `json:"node"`
	Data            json.RawMessage `json:"data,omitempty"`
}

// Sentinel errors; Validate wraps them with the offending attribute so callers
// can both print a precise reason and test the class with errors.Is.
var (
	ErrTooLarge        = errors.New("event too large")
	ErrMalformed       = errors.New("malformed event")
	ErrMissing         = errors.New("missing required attribute")
	ErrInvalid         = errors.New("invalid attribute")
	ErrSpecVersion     = errors.New("unsupported specversion")
	ErrUnknownSubject  = errors.New("subject does not name an event")
	ErrSubjectMismatch = errors.New("event does not belong on its subject")
)

var (
	entropyMu sync.Mutex
	entropy   = ulid.Monotonic(rand.Reader, 0)
)

// NewID returns a ULID: unique, and sortable by creation time.
func NewID(t time.Time) string {
	entropyMu.Lock()
	defer entropyMu.Unlock()
	return ulid.MustNew(ulid.Timestamp(t), entropy).String()
}

// New builds a valid event of type typ at time t with data marshalled to JSON.
func New(typ, source, cluster, node string, t time.Time, data any) (*Event, error) {
	e, err := NewEncoded(typ, source, cluster, node, t, data)
	return e.Event, err
}

// NewEncoded is New with the event's encoding, made once: what is
// published and spooled.
func NewEncoded(typ, source, cluster, node string, t time.Time, data any) (Encoded, error) {
	e := &Event{
		SpecVersion:     SpecVersion,
		ID:              NewID(t),
		Source:          source,
		Type:            typ,
		Time:            t.UTC(),
		Subject:         node,
		DataContentType: "application/json",
		Cluster:         cluster,
		Node:            node,
	}
	if data != nil {
		raw, err := json.Marshal(data)
		if err != nil {
			return Encoded{}, fmt.Errorf("marshal %s data: %w", typ, err)
		}
		e.Data = raw
	}
	if err := e.Validate(); err != nil {
		return Encoded{}, err
	}
	return e.Encoded()
}

// Decode parses and validates one structured-mode CloudEvent.
func Decode(b []byte) (*Event, error) {
	return DecodeFor(b, "", "")
}

// DecodeFor is Decode for a node's own agent: an event that names no cluster
// or node gets the given ones before validation, so an app need not know
// where it runs.
func DecodeFor(b []byte, cluster, node string) (*Event, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, len(b), MaxSize)
	}
	var e Event
	if !decodeFast(b, &e) {
		if err := decodeSlow(b, &e); err != nil {
			return nil, err
		}
	}
	if e.Cluster == "" {
		e.Cluster = cluster
	}
	if e.Node == "" {
		e.Node = node
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return &e, nil
}

// decodeSlow is encoding/json's path: exact semantics and precise errors.
func decodeSlow(b []byte, e *Event) error {
	*e = Event{}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(e); err != nil {
		return fmt.Errorf("%w: %w", ErrMalformed, jsonReason(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after the event object", ErrMalformed)
	}
	return nil
}

// jsonReason turns a time parse failure into a message naming the attribute.
func jsonReason(err error) error {
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return fmt.Errorf("time: %q is not RFC 3339", strings.Trim(pe.Value, `"`))
	}
	return err
}

// Encoded is an event with its JSON encoding: an event is marshalled once
// on its way to the spool and NATS.
type Encoded struct {
	*Event
	JSON []byte
}

// Encoded encodes e (see Encode).
func (e *Event) Encoded() (Encoded, error) {
	b, err := e.Encode()
	if err != nil {
		return Encoded{}, err
	}
	return Encoded{e, b}, nil
}

// Encode marshals e; it fails if the result would exceed MaxSize.
func (e *Event) Encode() ([]byte, error) {
	b, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode event %s: %w", e.ID, err)
	}
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: %s is %d bytes, limit %d", ErrTooLarge, e.Type, len(b), MaxSize)
	}
	return b, nil
}

// Validate checks the envelope; each problem names the attribute.
func (e *Event) Validate() error {
	var errs []error
	if e.SpecVersion == "" {
		errs = append(errs, fmt.Errorf("%w: specversion", ErrMissing))
	} else if e.SpecVersion != SpecVersion {
		errs = append(errs, fmt.Errorf("%w: %q (want %q)", ErrSpecVersion, e.SpecVersion, SpecVersion))
	}
	required := []struct{ name, val string }{
		{"id", e.ID}, {"source", e.Source}, {"type", e.Type}, {"cluster", e.Cluster}, {"node", e.Node},
	}
	for _, r := range required {
		if r.val == "" {
			errs = append(errs, fmt.Errorf("%w: %s", ErrMissing, r.name))
		}
	}
	if e.Time.IsZero() {
		errs = append(errs, fmt.Errorf("%w: time", ErrMissing))
	}
	for _, a := range []struct{ name, val string }{
		{"source", e.Source}, {"subject", e.Subject}, {"datacontenttype", e.DataContentType}, {"cluster", e.Cluster}, {"node", e.Node},
	} {
		if err := printable(a.val); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s %q: %w", ErrInvalid, a.name, a.val, err))
		}
	}
	if e.ID != "" && !validID(e.ID) {
		errs = append(errs, fmt.Errorf("%w: id %q: 1-128 printable ASCII characters, no spaces", ErrInvalid, e.ID))
	}
	if e.Type != "" && !validType(e.Type) {
		errs = append(errs, fmt.Errorf("%w: type %q: want dotted lower-case words like \"kernel.bug\"", ErrInvalid, e.Type))
	}
	if len(e.Data) > 0 && e.Data[0] != '{' {
		errs = append(errs, fmt.Errorf("%w: data must be a JSON object", ErrInvalid))
	}
	return errors.Join(errs...)
}

// printable refuses control characters (C0, DEL, C1) and invalid UTF-8
// in an attribute: they end up in subjects, labels, logs and messages to
// people, where a NUL or an escape sequence does harm.
func printable(s string) error {
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf { // ASCII, nearly every byte: no decoding
			if c < 0x20 || c == 0x7f {
				return fmt.Errorf("control character %U at byte %d", rune(c), i)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("invalid UTF-8 at byte %d", i)
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			return fmt.Errorf("control character %U at byte %d", r, i)
		}
		i += size
	}
	return nil
}

func validID(s string) bool {
	if len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return false
		}
	}
	return true
}

func validType(s string) bool {
	dots := 0
	prev := byte('.')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if prev == '.' {
				return false
			}
			dots++
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '_':
		default:
			return false
		}
		prev = c
	}
	return dots > 0 && prev != '.'
}

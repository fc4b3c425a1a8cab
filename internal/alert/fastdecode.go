package alert

import (
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/jsonscan"
)

// decodeFast decodes an alert as the router encodes it (json.Marshal of
// Alert) in one pass without reflection: encoding/json took 70-95 µs for a
// node-crash update with its evidence, and every alert is decoded by the
// notifier and the web view, and again at each start. Anything it does
// not expect (an unknown or repeated key, null, a number that is not a
// plain integer, invalid UTF-8) returns false, and Decode takes
// encoding/json's path: the result is always encoding/json's.
// FuzzDecodeParity holds it to that.
func decodeFast(b []byte, a *Alert) bool {
	s := jsonscan.New(b)
	s.WS()
	return ScanFast(&s, a) && s.End()
}

// ScanFast reads the alert object at s into a (a zero Alert) the way
// encoding/json would, when it can without reflection; false means it
// could not say, and the whole input is for encoding/json. A record that
// holds an alert (the notifier's ALERT_STATE records) uses it.
func ScanFast(s *jsonscan.Scanner, a *Alert) bool {
	var seen fields
	return s.Object(func(key []byte) bool { return a.field(s, key, &seen) })
}

// fields remembers the object, map and array keys read in one object:
// encoding/json merges a repeat of one into what it decoded first, which
// the fast path does not do, so a repeat falls back.
type fields uint32

func (f *fields) first(i int) bool {
	bit := fields(1) << i
	if *f&bit != 0 {
		return false
	}
	*f |= bit
	return true
}

func (a *Alert) field(s *jsonscan.Scanner, key []byte, seen *fields) bool {
	switch string(key) {
	case "id":
		return text(s, &a.ID)
	case "fingerprint":
		return text(s, &a.Fingerprint)
	case "rule":
		return text(s, &a.Rule)
	case "severity":
		return text(s, &a.Severity)
	case "state":
		return text(s, &a.State)
	case "labels":
		return seen.first(0) && stringMap(s, &a.Labels)
	case "annotations":
		return seen.first(1) && stringMap(s, &a.Annotations)
	case "headline":
		return text(s, &a.Headline)
	case "summary":
		return text(s, &a.Summary)
	case "details":
		return text(s, &a.Details)
	case "note_order":
		return seen.first(2) && strs(s, &a.NoteOrder)
	case "group_key":
		return text(s, &a.GroupKey)
	case "receivers":
		return seen.first(3) && strs(s, &a.Receivers)
	case "window_start":
		return s.Time(&a.WindowStart)
	case "window_end":
		return s.Time(&a.WindowEnd)
	case "starts_at":
		return s.Time(&a.StartsAt)
	case "since":
		return s.Time(&a.Since)
	case "ends_at":
		return s.Time(&a.EndsAt)
	case "evidence":
		return seen.first(4) && evidence(s, &a.Evidence)
	case "evidence_seen":
		return integer(s, &a.EvidenceSeen)
	case "drill":
		return flag(s, &a.Drill)
	case "rules_version":
		return text(s, &a.RulesVersion)
	case "update":
		return integer(s, &a.Update)
	case "change":
		if !seen.first(5) {
			return false
		}
		a.Change = &Change{}
		return a.Change.decode(s)
	case "tally":
		return seen.first(6) && tally(s, &a.Tally)
	case "created_at":
		return s.Time(&a.CreatedAt)
	}
	return false
}

func (c *Change) decode(s *jsonscan.Scanner) bool {
	var seen fields
	return s.Object(func(key []byte) bool {
		switch string(key) {
		case "significant":
			return flag(s, &c.Significant)
		case "notes":
			return seen.first(0) && strs(s, &c.Notes)
		case "values":
			return seen.first(1) && strs(s, &c.Values)
		}
		return false
	})
}

// objects reads an array of objects, each member through field.
func objects[T any](s *jsonscan.Scanner, dst *[]T, field func(v *T, key []byte, seen *fields) bool) bool {
	out := []T{}
	var seen fields
	ok := s.Array(func() bool {
		var zero T
		out, seen = append(out, zero), 0
		v := &out[len(out)-1]
		return s.Object(func(key []byte) bool { return field(v, key, &seen) })
	})
	*dst = out
	return ok
}

func tally(s *jsonscan.Scanner, dst *[]TypeTally) bool {
	return objects(s, dst, func(t *TypeTally, key []byte, seen *fields) bool {
		switch string(key) {
		case "type":
			return text(s, &t.Type)
		case "events":
			return integer(s, &t.Events)
		case "occurrences":
			return integer(s, &t.Occurrences)
		case "nodes":
			return integer(s, &t.Nodes)
		case "first":
			return s.Time(&t.First)
		case "last":
			return s.Time(&t.Last)
		case "top_nodes":
			return seen.first(0) && objects(s, &t.TopNodes, func(n *NodeCount, key []byte, _ *fields) bool {
				switch string(key) {
				case "node":
					return text(s, &n.Node)
				case "events":
					return integer(s, &n.Events)
				}
				return false
			})
		}
		return false
	})
}

// evidence reads the events with event's own fast path; an event it
// cannot read sends the whole alert to encoding/json. Most alerts carry
// one event, and room for MaxEvidence in each was 2.9 KB of garbage at
// every decode (notifier, web view, restore): room for one first, for as
// many as an alert keeps once there is a second.
func evidence(s *jsonscan.Scanner, dst *[]event.Event) bool {
	out := []event.Event{} // empty, not nil, for `[]`, as encoding/json
	ok := s.Array(func() bool {
		if len(out) == 1 && cap(out) == 1 {
			out = slices.Grow(out, MaxEvidence-1)
		}
		out = append(out, event.Event{})
		return event.ScanFast(s, &out[len(out)-1])
	})
	*dst = out
	return ok
}

func stringMap(s *jsonscan.Scanner, dst *map[string]string) bool {
	m := map[string]string{}
	*dst = m
	return s.Object(func(key []byte) bool {
		if !utf8.Valid(key) {
			return false // encoding/json would replace the invalid bytes
		}
		v, ok := s.String()
		m[string(key)] = v // a repeated key: the last wins, as in encoding/json
		return ok
	})
}

// A repeated scalar key is decoded again, the last winning, as in
// encoding/json: only objects, maps and arrays need fields.

func text[T ~string](s *jsonscan.Scanner, dst *T) bool {
	v, ok := s.String()
	*dst = T(v)
	return ok
}

func flag(s *jsonscan.Scanner, dst *bool) bool {
	v, ok := s.Bool()
	*dst = v
	return ok
}

func integer[T int | int64](s *jsonscan.Scanner, dst *T) bool {
	bits := 64
	if _, isInt := any(*dst).(int); isInt {
		bits = strconv.IntSize
	}
	n, ok := s.Int(bits)
	*dst = T(n)
	return ok
}

func strs(s *jsonscan.Scanner, dst *[]string) bool {
	v, ok := s.Strings()
	*dst = v
	return ok
}

// Identity reads the id and fingerprint an encoded alert begins with, as
// Encode writes them, without decoding the rest: for a reader that keeps
// alerts undecoded until someone looks (the web view's history of
// ALERTS). ok is false for any other shape; Decode says what it is. A
// later Decode may disagree (a repeated key is encoding/json's to
// resolve), so such a reader checks the decoded alert against it.
func Identity(b []byte) (id, fingerprint string, ok bool) {
	s := jsonscan.New(b)
	s.WS()
	if !s.Eat('{') {
		return "", "", false
	}
	for i, want := range [2]string{"id", "fingerprint"} {
		s.WS()
		if i > 0 && !s.Eat(',') {
			return "", "", false
		}
		s.WS()
		k, ok := s.PlainString()
		if !ok || string(k) != want {
			return "", "", false
		}
		s.WS()
		if !s.Eat(':') {
			return "", "", false
		}
		s.WS()
		v, ok := s.String()
		if !ok {
			return "", "", false
		}
		if i == 0 {
			id = v
		} else {
			fingerprint = v
		}
	}
	return id, fingerprint, true
}

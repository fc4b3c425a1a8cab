package rule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// TypeAlert is the type of the events the engine derives from its own
// alerts, so one rule can build on another (a node gone silent, followed by
// timeouts, is a crash too). They never leave the engine.
const TypeAlert = "aftershock.alert"

// AlertData is the data of an aftershock.alert event.
type AlertData struct {
	Rule     string            `json:"rule"`
	State    string            `json:"state"`
	Severity string            `json:"severity"`
	GroupKey string            `json:"group_key"`
	Labels   map[string]string `json:"labels"`
	StartsAt time.Time         `json:"starts_at"`
	EndsAt   time.Time         `json:"ends_at,omitzero"`
	// LastSeen is, for an absence alert, the time the group was last heard.
	LastSeen time.Time `json:"last_seen,omitzero"`
}

// Schemas maps each event type the engine sees to the Go struct of its
// data: the catalogue's (event.DataTypes, the same schema ingest checks
// apps' events against) and the engine's own aftershock.alert. `rules
// check` rejects event.data fields that no matched type has, and data is
// decoded with these types: timestamps become CEL timestamps and integers
// CEL ints. Types without a schema (app events) are decoded as plain JSON.
var Schemas = func() map[string]reflect.Type {
	m := maps.Clone(event.DataTypes)
	m[TypeAlert] = reflect.TypeFor[AlertData]()
	return m
}()

// shape is a JSON value's expected form, derived from a Go type.
type shape struct {
	kind   reflect.Kind // Struct, Slice, Map, Int64, Float64, Bool, String; Invalid = any JSON
	time   bool
	fields map[string]*shape // Struct, by JSON name
	elem   *shape            // Slice, Map
}

var (
	shapes    = map[string]*shape{}
	timeRType = reflect.TypeFor[time.Time]()
)

func init() {
	cache := map[reflect.Type]*shape{}
	for typ, rt := range Schemas {
		shapes[typ] = shapeOf(rt, cache)
	}
}

func shapeOf(rt reflect.Type, cache map[reflect.Type]*shape) *shape {
	if s, ok := cache[rt]; ok {
		return s
	}
	if rt.Kind() == reflect.Pointer {
		return shapeOf(rt.Elem(), cache)
	}
	if rt == timeRType {
		return &shape{kind: reflect.String, time: true}
	}
	switch rt.Kind() {
	case reflect.Struct:
		s := &shape{kind: reflect.Struct, fields: map[string]*shape{}}
		cache[rt] = s
		for i := range rt.NumField() {
			f := rt.Field(i)
			if name, ok := event.JSONName(f); ok {
				s.fields[name] = shapeOf(f.Type, cache)
			}
		}
		return s
	case reflect.Slice, reflect.Array:
		return &shape{kind: reflect.Slice, elem: shapeOf(rt.Elem(), cache)}
	case reflect.Map:
		return &shape{kind: reflect.Map, elem: shapeOf(rt.Elem(), cache)}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &shape{kind: reflect.Int64}
	case reflect.Float32, reflect.Float64:
		return &shape{kind: reflect.Float64}
	case reflect.Bool:
		return &shape{kind: reflect.Bool}
	case reflect.String:
		return &shape{kind: reflect.String}
	}
	return &shape{}
}

// DecodeData decodes an event's data as CEL sees it: a map with timestamps,
// ints and doubles typed by the event type's schema.
func DecodeData(typ string, raw json.RawMessage) (map[string]any, error) {
	if len(raw) == 0 {
		return map[string]any{}, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		return nil, err
	}
	s := shapes[typ]
	for k, v := range m {
		var fs *shape
		if s != nil {
			fs = s.fields[k]
		}
		cv, err := convert(v, fs)
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", k, err)
		}
		m[k] = cv
	}
	return m, nil
}

func convert(v any, s *shape) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if s != nil && s.kind == reflect.Float64 {
			return x.Float64()
		}
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		if s != nil && s.kind == reflect.Int64 {
			return nil, fmt.Errorf("%s is not an integer", x)
		}
		return x.Float64()
	case string:
		if s != nil && s.time {
			t, err := time.Parse(time.RFC3339Nano, x)
			if err != nil {
				return nil, fmt.Errorf("%q is not an RFC 3339 time", x)
			}
			return t, nil
		}
		return x, nil
	case []any:
		var es *shape
		if s != nil {
			es = s.elem
		}
		for i := range x {
			c, err := convert(x[i], es)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			x[i] = c
		}
		return x, nil
	case map[string]any:
		for k, e := range x {
			var es *shape
			if s != nil {
				if s.kind == reflect.Map {
					es = s.elem
				} else {
					es = s.fields[k]
				}
			}
			c, err := convert(e, es)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			x[k] = c
		}
		return x, nil
	}
	return v, nil
}

// fieldPath checks a data field path (e.g. ["meminfo", "mem_free_kb"])
// against the schemas of types. It returns "" when some type has the path
// (or a type without a schema could), else a message.
func fieldPath(types []string, path []string) string {
	if len(types) == 0 {
		return ""
	}
	var have []string
	for _, t := range types {
		s, ok := shapes[t]
		if !ok {
			return ""
		}
		cur := s
		ok = true
		for _, p := range path {
			if cur.kind == reflect.Map || cur.kind == reflect.Invalid {
				cur = cur.elem
				if cur == nil {
					cur = &shape{}
				}
				continue
			}
			next, found := cur.fields[p]
			if cur.kind != reflect.Struct || !found {
				ok = false
				if cur.kind == reflect.Struct {
					for name := range cur.fields {
						have = append(have, name)
					}
				}
				break
			}
			cur = next
		}
		if ok {
			return ""
		}
	}
	slices.Sort(have)
	have = slices.Compact(have)
	return fmt.Sprintf("no field %s in the data of %s (fields: %s)",
		strconv.Quote(strings.Join(path, ".")), strings.Join(types, ", "), strings.Join(have, ", "))
}

// hasCount reports whether the type's data has a top-level integer
// "count" (a rolled-up event standing for count occurrences).
func hasCount(typ string) bool {
	s, ok := shapes[typ]
	if !ok {
		return false
	}
	c, ok := s.fields["count"]
	return ok && c.kind == reflect.Int64
}

// Occurrences is how many occurrences an event stands for: data.count for
// rolled-up types, else 1. It scans the raw JSON for the key instead of
// decoding it: in the schemas' types "count" is a top-level key only, and
// a "count" that is a string value is not followed by a colon.
func Occurrences(ev *event.Event) int64 {
	if !hasCount(ev.Type) {
		return 1
	}
	b := ev.Data
	for {
		i := bytes.Index(b, []byte(`"count"`))
		if i < 0 {
			return 1
		}
		b = bytes.TrimLeft(b[i+len(`"count"`):], " \t\r\n")
		if len(b) == 0 || b[0] != ':' {
			continue
		}
		b = bytes.TrimLeft(b[1:], " \t\r\n")
		var n int64
		j := 0
		for ; j < len(b) && j < 18 && b[j] >= '0' && b[j] <= '9'; j++ {
			n = n*10 + int64(b[j]-'0')
		}
		if j == 0 || n < 1 {
			return 1
		}
		return n
	}
}

func occurrencesOf(typ, data string) int64 {
	return Occurrences(&event.Event{Type: typ, Data: []byte(data)})
}

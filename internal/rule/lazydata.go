package rule

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"unicode/utf8"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// lazyData is `event.data` for CEL: a map whose fields are decoded one at
// a time, on first access, straight from the raw JSON. A match like
// `event.data.constraint == "global"` then costs a scan of the payload's
// top-level keys, not a full decode into a map of every field. Iteration,
// size and conversion decode the whole payload (EventView.Data).
type lazyData struct{ v *EventView }

var _ traits.Mapper = lazyData{}

type fieldVal struct {
	name string
	val  ref.Val
}

// field returns one top-level data field as a CEL value.
func (v *EventView) field(name string) (ref.Val, bool, error) {
	if v.decoded {
		x, ok := v.data[name]
		if !ok {
			return nil, false, v.dataErr
		}
		return types.DefaultTypeAdapter.NativeToValue(x), true, nil
	}
	for _, f := range v.fields {
		if f.name == name {
			return f.val, f.val != nil, nil
		}
	}
	raw, found, err := topLevel(v.Ev.Data, name)
	if err != nil {
		return nil, false, fmt.Errorf("data of event %s: %w", v.Ev.ID, err)
	}
	var val ref.Val
	if found {
		x, err := decodeValue(raw, fieldShape(v.Ev.Type, name))
		if err != nil {
			return nil, false, fmt.Errorf("data of event %s: field %s: %w", v.Ev.ID, name, err)
		}
		val = types.DefaultTypeAdapter.NativeToValue(x)
	}
	v.fields = append(v.fields, fieldVal{name, val})
	return val, found, nil
}

func fieldShape(typ, name string) *shape {
	if s := shapes[typ]; s != nil {
		return s.fields[name]
	}
	return nil
}

// decodeValue decodes one JSON value as DecodeData would.
func decodeValue(raw []byte, s *shape) (any, error) {
	switch {
	case len(raw) > 0 && raw[0] == '"' && bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw):
		return convert(string(raw[1:len(raw)-1]), s)
	case bytes.Equal(raw, []byte("true")):
		return true, nil
	case bytes.Equal(raw, []byte("false")):
		return false, nil
	case bytes.Equal(raw, []byte("null")):
		return nil, nil
	case len(raw) > 0 && (raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9'):
		return convert(json.Number(raw), s)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var x any
	if err := dec.Decode(&x); err != nil {
		return nil, err
	}
	return convert(x, s)
}

// topLevel finds the value of key in a JSON object, without decoding the
// rest; with a key repeated, the last one wins, as in encoding/json. The
// payload was validated as JSON when the event was decoded.
func topLevel(b []byte, key string) ([]byte, bool, error) {
	var val []byte
	found := false
	i := skipSpace(b, 0)
	if i == len(b) {
		return nil, false, nil // no data
	}
	if i >= len(b) || b[i] != '{' {
		return nil, false, fmt.Errorf("data is not a JSON object")
	}
	i++
	for {
		i = skipSpace(b, i)
		if i >= len(b) {
			return nil, false, fmt.Errorf("truncated data")
		}
		if b[i] == '}' {
			return val, found, nil
		}
		if b[i] == ',' {
			i++
			continue
		}
		ks := i
		ke, err := skipValue(b, i)
		if err != nil {
			return nil, false, err
		}
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return nil, false, fmt.Errorf("malformed data object")
		}
		vs := skipSpace(b, i+1)
		ve, err := skipValue(b, vs)
		if err != nil {
			return nil, false, err
		}
		if keyIs(b[ks:ke], key) {
			val, found = b[vs:ve], true
		}
		i = ve
	}
}

func keyIs(quoted []byte, key string) bool {
	if bytes.IndexByte(quoted, '\\') < 0 && utf8.Valid(quoted) {
		return len(quoted) == len(key)+2 && string(quoted[1:len(quoted)-1]) == key
	}
	var s string // escapes, or bytes JSON decoding replaces
	return json.Unmarshal(quoted, &s) == nil && s == key
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the end of the JSON value starting at i.
func skipValue(b []byte, i int) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("truncated data")
	}
	switch b[i] {
	case '"':
		for j := i + 1; j < len(b); j++ {
			switch b[j] {
			case '\\':
				j++
			case '"':
				return j + 1, nil
			}
		}
		return 0, fmt.Errorf("unterminated string")
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				end, err := skipValue(b, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unterminated object")
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\n' && b[j] != '\t' && b[j] != '\r' {
		j++
	}
	return j, nil
}

func (d lazyData) Find(k ref.Val) (ref.Val, bool) {
	s, ok := k.(types.String)
	if !ok {
		return nil, false
	}
	v, found, err := d.v.field(string(s))
	if err != nil {
		return types.WrapErr(err), true
	}
	return v, found
}

func (d lazyData) Get(k ref.Val) ref.Val {
	v, found := d.Find(k)
	if !found {
		return types.NewErr("no such key: %v", k)
	}
	return v
}

func (d lazyData) Contains(k ref.Val) ref.Val {
	v, found := d.Find(k)
	if types.IsError(v) {
		return v
	}
	return types.Bool(found)
}

func (d lazyData) full() ref.Val {
	m, err := d.v.Data()
	if err != nil {
		return types.WrapErr(err)
	}
	return types.DefaultTypeAdapter.NativeToValue(m)
}

func (d lazyData) Iterator() traits.Iterator {
	if m, ok := d.full().(traits.Mapper); ok {
		return m.Iterator()
	}
	return types.NewStringList(types.DefaultTypeAdapter, nil).Iterator()
}

func (d lazyData) Size() ref.Val {
	if m, ok := d.full().(traits.Mapper); ok {
		return m.Size()
	}
	return types.Int(0)
}

func (d lazyData) ConvertToNative(t reflect.Type) (any, error) { return d.full().ConvertToNative(t) }
func (d lazyData) ConvertToType(t ref.Type) ref.Val            { return d.full().ConvertToType(t) }
func (d lazyData) Equal(o ref.Val) ref.Val                     { return d.full().Equal(o) }
func (d lazyData) Type() ref.Type                              { return types.MapType }
func (d lazyData) Value() any                                  { return d.full().Value() }

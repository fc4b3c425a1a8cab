package rule

import (
	"fmt"
	"reflect"
	"time"

	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/aftershock/aftershock/internal/event"
)

// EventTypeName is the CEL type of `event`, `first`, `last` and the elements
// of `events`.
const EventTypeName = "aftershock.Event"

// EventView is an event as CEL and templates see it. The data payload is
// decoded on first access only, so rules that look at the envelope alone
// never pay for JSON decoding. It is itself a CEL value, so handing it to a
// program costs no conversion.
type EventView struct {
	Ev    *event.Event
	Drill bool

	decoded bool
	data    map[string]any
	dataErr error
	fields  []fieldVal // fields read one by one (lazyData)
	// typ, node and at are CEL values built once: rules read them on
	// every match, and boxing them each time would allocate each time.
	typ, node, at ref.Val
}

// NewView wraps ev.
func NewView(ev *event.Event, drill bool) *EventView {
	return &EventView{Ev: ev, Drill: drill}
}

// Data decodes the payload once, typed by its schema (see schema.go).
func (v *EventView) Data() (map[string]any, error) {
	if !v.decoded {
		v.decoded = true
		v.data, v.dataErr = DecodeData(v.Ev.Type, v.Ev.Data)
		if v.dataErr != nil {
			v.dataErr = fmt.Errorf("decode data of event %s: %w", v.Ev.ID, v.dataErr)
		}
	}
	return v.data, v.dataErr
}

// Map is the event for templates: the envelope fields plus data.
func (v *EventView) Map() map[string]any {
	data, _ := v.Data()
	if data == nil {
		data = map[string]any{}
	}
	e := v.Ev
	return map[string]any{
		"id": e.ID, "type": e.Type, "source": e.Source, "time": e.Time,
		"cluster": e.Cluster, "node": e.Node, "subject": e.Subject, "drill": v.Drill,
		"data": data,
	}
}

// eventFields declares the envelope's CEL fields: name, type, getter.
var eventFields = map[string]struct {
	t   *types.Type
	get func(v *EventView) (any, error)
}{
	"id": {types.StringType, func(v *EventView) (any, error) { return types.String(v.Ev.ID), nil }},
	"type": {types.StringType, func(v *EventView) (any, error) {
		if v.typ == nil {
			v.typ = types.String(v.Ev.Type)
		}
		return v.typ, nil
	}},
	"source": {types.StringType, func(v *EventView) (any, error) { return types.String(v.Ev.Source), nil }},
	"time": {types.TimestampType, func(v *EventView) (any, error) {
		if v.at == nil {
			v.at = types.Timestamp{Time: v.Ev.Time}
		}
		return v.at, nil
	}},
	"cluster": {types.StringType, func(v *EventView) (any, error) { return types.String(v.Ev.Cluster), nil }},
	"node": {types.StringType, func(v *EventView) (any, error) {
		if v.node == nil {
			v.node = types.String(v.Ev.Node)
		}
		return v.node, nil
	}},
	"subject": {types.StringType, func(v *EventView) (any, error) { return types.String(v.Ev.Subject), nil }},
	"drill":   {types.BoolType, func(v *EventView) (any, error) { return types.Bool(v.Drill), nil }},
	"data": {types.NewMapType(types.StringType, types.DynType), func(v *EventView) (any, error) {
		return lazyData{v}, nil
	}},
}

// eventType describes aftershock.Event to the CEL type checker and
// interpreter, with direct field getters (no reflection on the hot path).
type eventType struct{}

var (
	_ ref.Type                   = eventType{}
	_ types.StructTypeDescriptor = eventType{}
	_ ref.Val                    = (*EventView)(nil)
	_ traits.Indexer             = (*EventView)(nil)
	_ traits.FieldTester         = (*EventView)(nil)

	eventCELType = types.NewObjectType(EventTypeName, traits.FieldTesterType|traits.IndexerType)
	viewRType    = reflect.TypeFor[*EventView]()
)

func (eventType) HasTrait(trait int) bool {
	return (traits.FieldTesterType|traits.IndexerType)&trait == trait
}
func (eventType) TypeName() string          { return EventTypeName }
func (eventType) ReflectType() reflect.Type { return viewRType }
func (eventType) FieldNames() []string {
	return []string{"id", "type", "source", "time", "cluster", "node", "subject", "drill", "data"}
}

func (eventType) FindFieldType(name string) (*types.FieldType, bool) {
	f, ok := eventFields[name]
	if !ok {
		return nil, false
	}
	return &types.FieldType{
		Type:  f.t,
		IsSet: func(obj any) bool { _, ok := obj.(*EventView); return ok },
		GetFrom: func(obj any) (any, error) {
			v, ok := obj.(*EventView)
			if !ok {
				return nil, fmt.Errorf("not an event: %T", obj)
			}
			return f.get(v)
		},
	}, true
}

func (eventType) NewValue(types.Adapter, map[string]ref.Val) ref.Val {
	return types.NewErr("aftershock.Event values cannot be constructed in rules")
}

func (eventType) Adapt(_ types.Adapter, value any) ref.Val {
	if v, ok := value.(*EventView); ok && v != nil {
		return v
	}
	return types.NullValue
}

// ConvertToNative implements ref.Val.
func (v *EventView) ConvertToNative(t reflect.Type) (any, error) {
	if t == viewRType {
		return v, nil
	}
	return nil, fmt.Errorf("cannot convert %s to %v", EventTypeName, t)
}

// ConvertToType implements ref.Val.
func (v *EventView) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return eventCELType
	}
	if t.TypeName() == EventTypeName {
		return v
	}
	return types.NewErr("type conversion error from %s to %s", EventTypeName, t.TypeName())
}

// Equal compares events by id and timeline.
func (v *EventView) Equal(other ref.Val) ref.Val {
	o, ok := other.(*EventView)
	return types.Bool(ok && o.Ev.ID == v.Ev.ID && o.Drill == v.Drill)
}

// Type implements ref.Val.
func (v *EventView) Type() ref.Type { return eventCELType }

// Value returns the view itself: field getters take it.
func (v *EventView) Value() any { return v }

// Get implements traits.Indexer for dynamic access (e.g. through dyn).
func (v *EventView) Get(index ref.Val) ref.Val {
	name, ok := index.(types.String)
	if !ok {
		return types.NewErr("no such key: %v", index)
	}
	f, ok := eventFields[string(name)]
	if !ok {
		return types.NewErr("no such field: %s", name)
	}
	out, err := f.get(v)
	if err != nil {
		return types.WrapErr(err)
	}
	if rv, ok := out.(ref.Val); ok {
		return rv
	}
	return types.DefaultTypeAdapter.NativeToValue(out)
}

// IsSet implements traits.FieldTester.
func (v *EventView) IsSet(field ref.Val) ref.Val {
	name, ok := field.(types.String)
	if !ok {
		return types.False
	}
	_, ok = eventFields[string(name)]
	return types.Bool(ok)
}

// Time is the event's own time; kept as a method so the engine and
// templates agree on it.
func (v *EventView) Time() time.Time { return v.Ev.Time }

package rule

import (
	"fmt"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"
)

// Env holds the two CEL environments every rule compiles against, declared
// once (docs/rules.md lists what they offer):
//
//   - the event scope, for match, at and group_by: `event` and `tables`;
//   - the window scope, for condition and values: `event` (the event being
//     processed, or the last one seen), `events` (the evidence sample,
//     time-ordered), `first`, `last`, `key` (group labels), `window` (counts
//     over every event in the window, with helper functions), `latest`
//     (latest event of a type per node) and `tables`.
type Env struct {
	event  *cel.Env
	window *cel.Env
}

// CEL types of the environment.
var (
	EventType  = cel.ObjectType(EventTypeName)
	WindowType = cel.OpaqueType("aftershock.Window")
	tablesType = cel.MapType(cel.StringType, cel.ListType(cel.MapType(cel.StringType, cel.StringType)))
	latestType = cel.MapType(cel.StringType, cel.MapType(cel.StringType, EventType))
)

// NewEnv declares the environments.
func NewEnv() (*Env, error) {
	base, err := cel.NewEnv(
		cel.Types(eventType{}),
		cel.Variable("event", EventType),
		cel.Variable("tables", tablesType),
		cel.CrossTypeNumericComparisons(true),
		cel.DefaultUTCTimeZone(true),
		ext.Strings(),
		ext.Bindings(),
		ext.Lists(),
		ext.Sets(),
		ext.Math(),
	)
	if err != nil {
		return nil, fmt.Errorf("cel env: %w", err)
	}
	if base, err = base.Extend(append(exposureFunctions(), attributionFunctions()...)...); err != nil {
		return nil, fmt.Errorf("cel env: %w", err)
	}
	win, err := base.Extend(append([]cel.EnvOption{
		cel.Variable("events", cel.ListType(EventType)),
		cel.Variable("first", EventType),
		cel.Variable("last", EventType),
		cel.Variable("key", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("window", WindowType),
		cel.Variable("latest", latestType),
	}, windowFunctions()...)...)
	if err != nil {
		return nil, fmt.Errorf("cel window env: %w", err)
	}
	return &Env{event: base, window: win}, nil
}

// Activation supplies the variables of one evaluation. The engine reuses
// one per goroutine, so resolving a name allocates nothing.
type Activation struct {
	Event  *EventView
	Events []*EventView
	First  *EventView
	Last   *EventView
	Key    map[string]string
	Window Window
	Latest Latest
	Tables ref.Val

	events ref.Val
}

var _ interpreter.Activation = (*Activation)(nil)

// ResolveName implements interpreter.Activation.
func (a *Activation) ResolveName(name string) (any, bool) {
	switch name {
	case "event":
		return viewOrNull(a.Event), true
	case "tables":
		if a.Tables == nil {
			return emptyTables, true
		}
		return a.Tables, true
	case "events":
		if a.events == nil {
			vals := make([]ref.Val, len(a.Events))
			for i, v := range a.Events {
				vals[i] = v
			}
			a.events = types.NewRefValList(types.DefaultTypeAdapter, vals)
		}
		return a.events, true
	case "first":
		return viewOrNull(a.First), true
	case "last":
		return viewOrNull(a.Last), true
	case "key":
		return a.Key, true
	case "window":
		if a.Window == nil {
			return types.NewErr("no window"), true
		}
		return windowVal{a.Window}, true
	case "latest":
		return latestVal{a.Latest}, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *Activation) Parent() interpreter.Activation { return nil }

// Reset clears the activation for reuse.
func (a *Activation) Reset() {
	tables := a.Tables
	*a = Activation{Tables: tables}
}

func viewOrNull(v *EventView) any {
	if v == nil {
		return types.NullValue
	}
	return v
}

var emptyTables = types.DefaultTypeAdapter.NativeToValue(map[string][]map[string]string{})

// TablesValue converts a rule pack's tables for the activation.
func TablesValue(t map[string][]map[string]string) ref.Val {
	if t == nil {
		return emptyTables
	}
	return types.DefaultTypeAdapter.NativeToValue(t)
}

package rule

import (
	"fmt"
	"reflect"
	"time"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
)

// Window is what a window condition counts over: every event of the group
// still in the window, as compact records (time, type, node, occurrences),
// not only the evidence sample. internal/correlate implements it. A nil or
// empty types list means every type.
type Window interface {
	// Count sums occurrences (data.count of rolled-up events, else 1).
	Count(types []string) int64
	// Events counts events.
	Events(types []string) int64
	// Nodes counts distinct nodes.
	Nodes(types []string) int64
	// NodeNames lists distinct nodes, sorted (at most 100).
	NodeNames(types []string) []string
	// After and Before restrict the window to records at or after t, or
	// before t.
	After(t time.Time) Window
	Before(t time.Time) Window
	// First and Last are the times of the earliest and latest record.
	First(types []string) (time.Time, bool)
	Last(types []string) (time.Time, bool)
}

// Latest gives the latest event of a type per node, for the event types
// rules index with a literal (latest["node.posture"]).
type Latest interface {
	Latest(typ, node string) *EventView
	Nodes(typ string) []string
}

// MaxNodeNames caps node_names().
const MaxNodeNames = 100

type windowVal struct{ w Window }

var windowCELType = types.NewOpaqueType("aftershock.Window")

func (v windowVal) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("cannot convert aftershock.Window to %v", t)
}
func (v windowVal) ConvertToType(t ref.Type) ref.Val {
	if t == types.TypeType {
		return windowCELType
	}
	return types.NewErr("cannot convert aftershock.Window to %s", t.TypeName())
}
func (v windowVal) Equal(ref.Val) ref.Val { return types.False }
func (v windowVal) Type() ref.Type        { return windowCELType }
func (v windowVal) Value() any            { return v.w }

func typesArg(v ref.Val) ([]string, error) {
	switch x := v.(type) {
	case types.String:
		return []string{string(x)}, nil
	case traits.Lister:
		n := int(x.Size().(types.Int))
		out := make([]string, 0, n)
		for i := range n {
			s, ok := x.Get(types.Int(i)).(types.String)
			if !ok {
				return nil, fmt.Errorf("event types must be strings")
			}
			out = append(out, string(s))
		}
		return out, nil
	}
	return nil, fmt.Errorf("event types must be a string or a list of strings, not %s", v.Type().TypeName())
}

func win(v ref.Val) Window { return v.(windowVal).w }

// windowFunctions declares window's member functions (docs/rules.md).
func windowFunctions() []cel.EnvOption {
	listStr := cel.ListType(cel.StringType)
	// counter declares fn() and fn(types) for an int-valued function.
	counter := func(name string, f func(w Window, ts []string) int64) cel.EnvOption {
		one := func(lhs, rhs ref.Val) ref.Val {
			ts, err := typesArg(rhs)
			if err != nil {
				return types.WrapErr(err)
			}
			return types.Int(f(win(lhs), ts))
		}
		return cel.Function(name,
			cel.MemberOverload("window_"+name, []*cel.Type{WindowType}, cel.IntType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return types.Int(f(win(v), nil)) })),
			cel.MemberOverload("window_"+name+"_string", []*cel.Type{WindowType, cel.StringType}, cel.IntType, cel.BinaryBinding(one)),
			cel.MemberOverload("window_"+name+"_list", []*cel.Type{WindowType, listStr}, cel.IntType, cel.BinaryBinding(one)),
		)
	}
	timeOf := func(name string, f func(w Window, ts []string) (time.Time, bool)) cel.EnvOption {
		one := func(lhs, rhs ref.Val) ref.Val {
			ts, err := typesArg(rhs)
			if err != nil {
				return types.WrapErr(err)
			}
			t, ok := f(win(lhs), ts)
			if !ok {
				return types.NewErr("window.%s: no such events in the window", name)
			}
			return types.Timestamp{Time: t}
		}
		return cel.Function(name,
			cel.MemberOverload("window_"+name, []*cel.Type{WindowType}, cel.TimestampType,
				cel.UnaryBinding(func(v ref.Val) ref.Val { return one(v, types.NewStringList(types.DefaultTypeAdapter, nil)) })),
			cel.MemberOverload("window_"+name+"_string", []*cel.Type{WindowType, cel.StringType}, cel.TimestampType, cel.BinaryBinding(one)),
			cel.MemberOverload("window_"+name+"_list", []*cel.Type{WindowType, listStr}, cel.TimestampType, cel.BinaryBinding(one)),
		)
	}
	names := func(lhs, rhs ref.Val) ref.Val {
		ts, err := typesArg(rhs)
		if err != nil {
			return types.WrapErr(err)
		}
		return types.NewStringList(types.DefaultTypeAdapter, win(lhs).NodeNames(ts))
	}
	restrict := func(f func(w Window, t time.Time) Window) func(lhs, rhs ref.Val) ref.Val {
		return func(lhs, rhs ref.Val) ref.Val {
			ts, ok := rhs.(types.Timestamp)
			if !ok {
				return types.NewErr("want a timestamp")
			}
			return windowVal{f(win(lhs), ts.Time)}
		}
	}
	return []cel.EnvOption{
		counter("count", Window.Count),
		counter("events", Window.Events),
		counter("nodes", Window.Nodes),
		timeOf("first", Window.First),
		timeOf("last", Window.Last),
		cel.Function("node_names",
			cel.MemberOverload("window_node_names", []*cel.Type{WindowType}, listStr,
				cel.UnaryBinding(func(v ref.Val) ref.Val {
					return types.NewStringList(types.DefaultTypeAdapter, win(v).NodeNames(nil))
				})),
			cel.MemberOverload("window_node_names_string", []*cel.Type{WindowType, cel.StringType}, listStr, cel.BinaryBinding(names)),
			cel.MemberOverload("window_node_names_list", []*cel.Type{WindowType, listStr}, listStr, cel.BinaryBinding(names)),
		),
		cel.Function("after",
			cel.MemberOverload("window_after", []*cel.Type{WindowType, cel.TimestampType}, WindowType, cel.BinaryBinding(restrict(Window.After)))),
		cel.Function("before",
			cel.MemberOverload("window_before", []*cel.Type{WindowType, cel.TimestampType}, WindowType, cel.BinaryBinding(restrict(Window.Before)))),
		cel.Function("followed_by",
			cel.MemberOverload("window_followed_by", []*cel.Type{WindowType, listStr, listStr}, cel.IntType,
				cel.FunctionBinding(func(args ...ref.Val) ref.Val {
					first, err := typesArg(args[1])
					if err != nil {
						return types.WrapErr(err)
					}
					then, err := typesArg(args[2])
					if err != nil {
						return types.WrapErr(err)
					}
					return types.Int(FollowedBy(win(args[0]), first, then))
				}))),
	}
}

// FollowedBy counts occurrences of then at or after the first event of
// first in w: "a crash, followed by N timeouts". Zero when first is absent.
func FollowedBy(w Window, first, then []string) int64 {
	t, ok := w.First(first)
	if !ok {
		return 0
	}
	return w.After(t).Count(then)
}

// latestVal is `latest`: map(event type, map(node, Event)).
type latestVal struct{ l Latest }

// latestTypeVal is latest["type"].
type latestTypeVal struct {
	l   Latest
	typ string
}

var (
	_ traits.Mapper = latestVal{}
	_ traits.Mapper = latestTypeVal{}
)

func (v latestVal) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("cannot convert latest to %v", t)
}
func (v latestVal) ConvertToType(t ref.Type) ref.Val {
	return types.NewErr("cannot convert latest to %s", t.TypeName())
}
func (v latestVal) Equal(ref.Val) ref.Val { return types.False }
func (v latestVal) Type() ref.Type        { return types.MapType }
func (v latestVal) Value() any            { return v.l }
func (v latestVal) Contains(ref.Val) ref.Val {
	return types.True
}
func (v latestVal) Get(k ref.Val) ref.Val {
	s, ok := k.(types.String)
	if !ok {
		return types.NewErr("latest is indexed by an event type string")
	}
	return latestTypeVal{v.l, string(s)}
}
func (v latestVal) Find(k ref.Val) (ref.Val, bool) {
	r := v.Get(k)
	return r, !types.IsError(r)
}
func (v latestVal) Iterator() traits.Iterator {
	return types.NewStringList(types.DefaultTypeAdapter, nil).Iterator()
}
func (v latestVal) Size() ref.Val { return types.Int(0) }

func (v latestTypeVal) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("cannot convert latest[%q] to %v", v.typ, t)
}
func (v latestTypeVal) ConvertToType(t ref.Type) ref.Val {
	return types.NewErr("cannot convert latest[%q] to %s", v.typ, t.TypeName())
}
func (v latestTypeVal) Equal(ref.Val) ref.Val { return types.False }
func (v latestTypeVal) Type() ref.Type        { return types.MapType }
func (v latestTypeVal) Value() any            { return v }
func (v latestTypeVal) Contains(k ref.Val) ref.Val {
	_, found := v.Find(k)
	return types.Bool(found)
}
func (v latestTypeVal) Get(k ref.Val) ref.Val {
	r, found := v.Find(k)
	if !found {
		return types.NewErr("no %s event from node %v", v.typ, k)
	}
	return r
}
func (v latestTypeVal) Find(k ref.Val) (ref.Val, bool) {
	s, ok := k.(types.String)
	if !ok || v.l == nil {
		return nil, false
	}
	ev := v.l.Latest(v.typ, string(s))
	if ev == nil {
		return nil, false
	}
	return ev, true
}
func (v latestTypeVal) Iterator() traits.Iterator {
	var nodes []string
	if v.l != nil {
		nodes = v.l.Nodes(v.typ)
	}
	return types.NewStringList(types.DefaultTypeAdapter, nodes).Iterator()
}
func (v latestTypeVal) Size() ref.Val {
	if v.l == nil {
		return types.Int(0)
	}
	return types.Int(len(v.l.Nodes(v.typ)))
}

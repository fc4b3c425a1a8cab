package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// DataTypes maps each catalogued event type to the Go type of its data
// (data.go). It is the one schema of event data: `rules check` checks rules'
// field paths against it and the router decodes data with it
// (internal/rule), and ingest refuses data that does not fit it (CheckData).
// Types not in it (application events) carry any JSON object.
var DataTypes = map[string]reflect.Type{
	TypeHeartbeat:          reflect.TypeFor[Heartbeat](),
	TypePosture:            reflect.TypeFor[Posture](),
	TypeReboot:             reflect.TypeFor[Reboot](),
	TypeKernelOOM:          reflect.TypeFor[OOM](),
	TypeKernelBug:          reflect.TypeFor[KernelReport](),
	TypeKernelPanic:        reflect.TypeFor[KernelReport](),
	TypeKernelLockup:       reflect.TypeFor[KernelReport](),
	TypeKernelHungTask:     reflect.TypeFor[KernelReport](),
	TypeKernelConntrack:    reflect.TypeFor[KernelReport](),
	TypeKernelNetdevLeak:   reflect.TypeFor[KernelReport](),
	TypeKernelFSError:      reflect.TypeFor[KernelReport](),
	TypeKernelIOError:      reflect.TypeFor[KernelReport](),
	TypeKernelNetTxTimeout: reflect.TypeFor[KernelReport](),
	TypeKernelMCE:          reflect.TypeFor[KernelReport](),
	TypeDNSTimeout:         reflect.TypeFor[DNSFailure](),
	TypeDNSError:           reflect.TypeFor[DNSFailure](),
	TypeDNSRecovered:       reflect.TypeFor[DNSRecovered](),
	TypeDNSProbe:           reflect.TypeFor[DNSProbe](),
	TypeRPCTimeout:         reflect.TypeFor[RPCTimeout](),
	TypeAlertmanagerAlert:  reflect.TypeFor[AlertmanagerAlert](),
	TypeSpoolDropped:       reflect.TypeFor[SpoolDropped](),
}

// ErrData is the class of CheckData's errors.
var ErrData = errors.New("data does not fit its type's schema")

// CheckData checks that raw fits the schema of typ: every field the
// schema knows has the JSON kind of its Go type (a number for numbers, an
// integer for integer fields, an RFC 3339 string for times, an object for
// structs and maps, an array for slices). Fields the schema does not know
// are allowed, as are types without a schema. The error names the field
// path and what was wrong, e.g. `data.uptime_seconds: "5" is a string, want
// a number`.
func CheckData(typ string, raw json.RawMessage) error {
	rt, ok := DataTypes[typ]
	if !ok || len(raw) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("%w: data: %w", ErrData, err)
	}
	if err := checkValue("data", v, rt); err != nil {
		return fmt.Errorf("%w: %w", ErrData, err)
	}
	return nil
}

var timeType = reflect.TypeFor[time.Time]()

func checkValue(path string, v any, rt reflect.Type) error {
	for rt.Kind() == reflect.Pointer {
		rt = rt.Elem()
	}
	if v == nil {
		return nil // null: the zero value, as encoding/json decodes it
	}
	if rt == timeType {
		s, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: %s, want an RFC 3339 time", path, describe(v))
		}
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return fmt.Errorf("%s: %q is not an RFC 3339 time", path, s)
		}
		return nil
	}
	switch rt.Kind() {
	case reflect.Struct:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %s, want an object", path, describe(v))
		}
		for i := range rt.NumField() {
			f := rt.Field(i)
			name, ok := JSONName(f)
			if !ok {
				continue
			}
			if fv, ok := m[name]; ok {
				if err := checkValue(path+"."+name, fv, f.Type); err != nil {
					return err
				}
			}
		}
	case reflect.Map:
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: %s, want an object", path, describe(v))
		}
		for k, e := range m {
			if err := checkValue(path+"."+k, e, rt.Elem()); err != nil {
				return err
			}
		}
	case reflect.Slice, reflect.Array:
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: %s, want an array", path, describe(v))
		}
		for i, e := range a {
			if err := checkValue(path+"["+strconv.Itoa(i)+"]", e, rt.Elem()); err != nil {
				return err
			}
		}
	case reflect.String:
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: %s, want a string", path, describe(v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: %s, want true or false", path, describe(v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: %s, want an integer", path, describe(v))
		}
		i, err := n.Int64()
		if err != nil {
			return fmt.Errorf("%s: %s is not an integer", path, n)
		}
		if rt.Kind() >= reflect.Uint && rt.Kind() <= reflect.Uint64 && i < 0 {
			return fmt.Errorf("%s: %s is negative", path, n)
		}
		if rt.Kind() == reflect.Int32 && (i < math.MinInt32 || i > math.MaxInt32) ||
			rt.Kind() == reflect.Uint32 && i > math.MaxUint32 {
			return fmt.Errorf("%s: %s is out of range", path, n)
		}
	case reflect.Float32, reflect.Float64:
		n, ok := v.(json.Number)
		if !ok {
			return fmt.Errorf("%s: %s, want a number", path, describe(v))
		}
		if _, err := n.Float64(); err != nil {
			return fmt.Errorf("%s: %s is not a number", path, n)
		}
	}
	return nil
}

// describe names a decoded JSON value for an error message.
func describe(v any) string {
	switch x := v.(type) {
	case string:
		if len(x) > 40 {
			x = x[:40] + "…"
		}
		return strconv.Quote(x) + " is a string"
	case json.Number:
		return x.String() + " is a number"
	case bool:
		return strconv.FormatBool(x) + " is a boolean"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%v", v)
}

// JSONName is the name encoding/json gives struct field f, and false when
// it leaves the field out: the one reading of the tags for the data
// schema here and the rules' typed environment.
func JSONName(f reflect.StructField) (string, bool) {
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	if name == "-" || !f.IsExported() {
		return "", false
	}
	if name == "" {
		name = f.Name
	}
	return name, true
}

package alert

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

// shapes are alerts as the router writes them: every field in use, and
// the sparse ones (no evidence, resolved, a drill, text json.Marshal
// escapes).
func shapes(tb testing.TB) map[string]*Alert {
	full := crashAlert(tb)
	resolved := *full
	resolved.State, resolved.EndsAt, resolved.Change = Resolved, full.StartsAt.Add(15*time.Minute), nil
	t0 := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	bare := &Alert{ID: "x", Fingerprint: "f", Rule: "pipeline-test", State: Firing, Summary: "seq=1",
		WindowStart: t0, WindowEnd: t0, StartsAt: t0, CreatedAt: t0}
	text := *bare
	text.Drill = true
	text.Summary = "a \"quoted\" <b>tag</b> & ampersand\n\ttab, \\ backslash, \u2028 separator, NUL \x00, é 中文 🔥"
	text.Labels = map[string]string{"naïve": "ü", "": "empty key"}
	text.Annotations = map[string]string{}
	text.NoteOrder = []string{}
	offset := *bare
	offset.StartsAt = time.Date(2020, 6, 14, 13, 14, 30, 0, time.FixedZone("CST", 8*3600))
	return map[string]*Alert{"node-crash update": full, "resolved": &resolved, "bare": bare, "escaped text": &text, "zone offset": &offset}
}

func TestFastPathTakesRouterAlerts(t *testing.T) {
	for name, a := range shapes(t) {
		t.Run(name, func(t *testing.T) {
			b, err := a.Encode()
			if err != nil {
				t.Fatal(err)
			}
			var fast, slow Alert
			if !decodeFast(b, &fast) {
				t.Fatalf("fast path refused the router's own encoding:\n%s", b)
			}
			if err := json.Unmarshal(b, &slow); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(&fast, &slow) {
				t.Fatalf("fast %+v\nslow %+v", fast, slow)
			}
		})
	}
}

// TestFastPathFallsBack: inputs whose meaning is encoding/json's to give
// (or that it rejects) are refused by the fast path, and Decode still
// returns what encoding/json returns.
func TestFastPathFallsBack(t *testing.T) {
	base := `{"id":"x","rule":"r","fingerprint":"f","state":"firing"`
	for name, in := range map[string]string{
		"key in other case":        `{"ID":"x","rule":"r"}`,
		"unknown key":              base + `,"extra":1}`,
		"null":                     base + `,"labels":null}`,
		"repeated object":          base + `,"change":{"significant":true},"change":{"notes":["n"]}}`,
		"repeated array of object": base + `,"tally":[{"type":"a"}],"tally":[{"events":2}]}`,
		"float into an int":        base + `,"update":1.5}`,
		"int overflow":             base + `,"update":99999999999999999999}`,
		"invalid UTF-8":            base + ",\"summary\":\"\xff\"}",
		"invalid UTF-8 in a key":   base + ",\"labels\":{\"\xff\":\"v\"}}",
		"surrogate escape":         base + `,"summary":"\ud83d\udd25"}`,
		"escaped key":              `{"i\u0064":"x","rule":"r"}`,
		"time with escapes":        base + `,"starts_at":"2020-06-14T13:14:30\u005a"}`,
		"evidence data not object": base + `,"evidence":[{"id":"e","data":[1]}]}`,
		"trailing data":            base + `} {}`,
		"truncated":                base,
		"not JSON":                 `{"id":"x",}`,
	} {
		t.Run(name, func(t *testing.T) {
			var fast Alert
			if decodeFast([]byte(in), &fast) {
				t.Fatalf("fast path took %q", in)
			}
			var want Alert
			werr := json.Unmarshal([]byte(in), &want)
			got, err := Decode([]byte(in))
			switch {
			case werr != nil && err == nil:
				t.Fatalf("Decode accepted what encoding/json rejects (%v)", werr)
			case werr == nil && err == nil && !reflect.DeepEqual(got, &want):
				t.Fatalf("Decode %+v\nencoding/json %+v", got, want)
			}
		})
	}
}

// FuzzDecodeParity holds the fast path to encoding/json's: whenever it
// accepts an input, encoding/json must accept it too and decode the same
// alert.
func FuzzDecodeParity(f *testing.F) {
	for _, a := range shapes(f) {
		b, err := a.Encode()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		f.Add([]byte(strings.ReplaceAll(string(b), ",", " ,\n ")))
	}
	f.Add([]byte(`{"id":"x","rule":"r","labels":{"a":"1","a":"2"},"tally":[],"evidence":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Alert
		if !decodeFast(b, &fast) {
			return
		}
		var slow Alert
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", err, b)
		}
		if !reflect.DeepEqual(&fast, &slow) {
			t.Fatalf("fast %+v\nslow %+v\nfor %q", fast, slow, b)
		}
	})
}

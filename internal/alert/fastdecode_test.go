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
		id, fp, idOK := Identity(b)
		var fast Alert
		if !decodeFast(b, &fast) {
			return
		}
		if idOK && (id != fast.ID || fp != fast.Fingerprint) {
			t.Fatalf("Identity read %q %q, the decode %q %q, for %q", id, fp, fast.ID, fast.Fingerprint, b)
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

// TestIdentity: the id and fingerprint are read from every alert the
// router encodes, and from nothing else.
func TestIdentity(t *testing.T) {
	for name, a := range shapes(t) {
		b, err := a.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if id, fp, ok := Identity(b); !ok || id != a.ID || fp != a.Fingerprint {
			t.Errorf("%s: Identity = %q, %q, %v; want %q, %q", name, id, fp, ok, a.ID, a.Fingerprint)
		}
	}
	for _, b := range []string{
		``, `[]`, `{}`, `{"fingerprint":"f","id":"i"}`, `{"id":"i"}`, `{"id":"i","rule":"r"}`,
		`{"id":1,"fingerprint":"f"}`, `{"id":"i","fingerprint":null}`, `{"id":"i" "fingerprint":"f"}`,
		`{"id":"\ud800","fingerprint":"f"}`,
	} {
		if id, fp, ok := Identity([]byte(b)); ok {
			t.Errorf("Identity(%s) = %q, %q, true; want false", b, id, fp)
		}
	}
	if id, fp, ok := Identity([]byte(" {\n \"id\" : \"i\" ,\n\"fingerprint\":\"f\u00e9\", \"rule\":")); !ok || id != "i" || fp != "fé" {
		t.Errorf("with white space and an escape: %q, %q, %v", id, fp, ok)
	}
}

func TestFastEncodeTakesRouterAlerts(t *testing.T) {
	for name, a := range shapes(t) {
		t.Run(name, func(t *testing.T) {
			want, err := json.Marshal(a)
			if err != nil {
				t.Fatal(err)
			}
			got, ok := encodeFast(nil, a)
			if !ok {
				t.Fatal("fast path refused the alert")
			}
			if string(got) != string(want) {
				t.Fatalf("fast\n%s\njson.Marshal\n%s", got, want)
			}
		})
	}
}

// TestFastEncodeFallsBack: event data json.Marshal would rewrite, or a
// time it refuses, leave the alert to json.Marshal, and Encode still
// writes (or refuses) what it does.
func TestFastEncodeFallsBack(t *testing.T) {
	for name, mod := range map[string]func(a *Alert){
		"data with white space":        func(a *Alert) { a.Evidence[0].Data = []byte(`{"a": 1}`) },
		"data with HTML":               func(a *Alert) { a.Evidence[0].Data = []byte(`{"a":"<b>"}`) },
		"data with U+2028":             func(a *Alert) { a.Evidence[0].Data = []byte("{\"a\":\"\u2028\"}") },
		"data that is not JSON":        func(a *Alert) { a.Evidence[0].Data = []byte(`{"a":`) },
		"data with trailing text":      func(a *Alert) { a.Evidence[0].Data = []byte(`{} x`) },
		"space after an escaped quote": func(a *Alert) { a.Evidence[0].Data = []byte(`{"a":"\"" , "b":1}`) },
		"a year past 9999":             func(a *Alert) { a.StartsAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
	} {
		t.Run(name, func(t *testing.T) {
			a := crashAlert(t)
			mod(a)
			if _, ok := encodeFast(nil, a); ok {
				t.Fatal("fast path took it")
			}
			want, werr := json.Marshal(a)
			got, err := a.Encode()
			if (err != nil) != (werr != nil) || string(got) != string(want) {
				t.Fatalf("Encode = %s, %v; json.Marshal = %s, %v", got, err, want, werr)
			}
		})
	}
}

// FuzzEncodeParity holds the fast encoder to json.Marshal, byte for byte,
// with arbitrary text in every kind of field.
func FuzzEncodeParity(f *testing.F) {
	f.Add("plain", "key", []byte(`{"a":1}`), int64(3))
	f.Add("a <b> & \"q\" \\ \n\t\x01 \u2028 \xff é 🔥", "\xfe", []byte(`{"a":"x y","b":[1,2.5e3,null]}`), int64(-7))
	f.Add("", "", []byte(`{"a" : 1}`), int64(0))
	f.Add("x", "y", []byte(`{"a":"\\"" , "b":"\\\\" }`), int64(1))
	f.Fuzz(func(t *testing.T, text, key string, data []byte, n int64) {
		a := crashAlert(t)
		a.Summary, a.Details, a.Headline, a.GroupKey = text, text+text, key, key
		a.Labels[key] = text
		a.Annotations = map[string]string{text: key}
		a.NoteOrder = []string{key, text}
		a.Evidence[0].Data = data
		a.Evidence[1].Node, a.Evidence[1].Subject = text, key
		a.Tally[0].TopNodes[0].Node, a.Tally[0].Occurrences = text, n
		a.Update, a.EvidenceSeen = int(n), int(-n)
		a.Change.Notes = []string{text}
		want, werr := json.Marshal(a)
		got, ok := encodeFast(nil, a)
		if !ok {
			return
		}
		if werr != nil {
			t.Fatalf("fast path encoded what json.Marshal refuses (%v)", werr)
		}
		if string(got) != string(want) {
			t.Fatalf("fast\n%s\njson.Marshal\n%s", got, want)
		}
	})
}

// TestShapesCoverEveryField: every field of the alert model is set in some
// shape, so the parity tests above fail when a field is added to Alert
// (or what it holds) and the fast paths do not know it.
func TestShapesCoverEveryField(t *testing.T) {
	set := map[string]bool{}
	var mark func(v reflect.Value)
	mark = func(v reflect.Value) {
		switch v.Kind() {
		case reflect.Pointer:
			if !v.IsNil() {
				mark(v.Elem())
			}
		case reflect.Slice:
			for i := range v.Len() {
				mark(v.Index(i))
			}
		case reflect.Struct:
			if v.Type() == reflect.TypeFor[time.Time]() {
				return
			}
			for i := range v.NumField() {
				f := v.Type().Field(i)
				if !f.IsExported() {
					continue
				}
				key := v.Type().Name() + "." + f.Name
				if _, ok := set[key]; !ok {
					set[key] = false
				}
				if !v.Field(i).IsZero() {
					set[key] = true
				}
				mark(v.Field(i))
			}
		}
	}
	for _, a := range shapes(t) {
		mark(reflect.ValueOf(a))
	}
	for _, typ := range []string{"Alert", "Change", "TypeTally", "NodeCount", "Event"} {
		found := false
		for k := range set {
			found = found || strings.HasPrefix(k, typ+".")
		}
		if !found {
			t.Errorf("no field of %s seen", typ)
		}
	}
	for k, ok := range set {
		if !ok {
			t.Errorf("%s is zero in every shape: set it in one, so the fast paths are held to encoding/json for it", k)
		}
	}
}

// TestFastPathRepeatedScalars: a repeated scalar key is taken by the fast
// path, the last one winning as in encoding/json.
func TestFastPathRepeatedScalars(t *testing.T) {
	in := []byte(`{"id":"x","rule":"r","rule":"r2","update":1,"update":2,"drill":true,"drill":false,` +
		`"starts_at":"2020-06-14T13:14:30Z","starts_at":"2020-06-14T13:15:30Z","change":{"significant":true,"significant":false},` +
		`"tally":[{"type":"a","type":"b","events":1,"events":2}]}`)
	var fast, slow Alert
	if !decodeFast(in, &fast) {
		t.Fatal("fast path refused repeated scalars")
	}
	if err := json.Unmarshal(in, &slow); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(&fast, &slow) || fast.Rule != "r2" || fast.Update != 2 || fast.Tally[0].Type != "b" {
		t.Fatalf("fast %+v\nslow %+v", fast, slow)
	}
}

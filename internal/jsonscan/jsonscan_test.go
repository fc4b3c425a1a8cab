package jsonscan_test

import (
	"encoding/json"
	"testing"

	"github.com/aftershock/aftershock/internal/jsonscan"
)

func TestString(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{`"plain"`, "plain", true},
		{`""`, "", true},
		{`"é 中文 🔥"`, "é 中文 🔥", true},
		{`"a\"b\\c\/d"`, `a"b\c/d`, true},
		{`"\b\f\n\r\t"`, "\b\f\n\r\t", true},
		{`"\u003cb\u003e \u0026 \u2028 \u0000"`, "<b> & \u2028 \x00", true},
		{`"x\u00e9y"`, "xéy", true},
		{`"\ud83d\udd25"`, "", false}, // surrogates: encoding/json's to pair or replace
		{"\"\xff\"", "", false},       // invalid UTF-8: replaced by encoding/json
		{"\"a\\n\xff\"", "", false},
		{"\"tab\there\"", "", false}, // a raw control character
		{`"\x"`, "", false},
		{`"\u12"`, "", false},
		{`"open`, "", false},
		{`"esc\`, "", false},
		{`plain`, "", false},
	} {
		s := jsonscan.New([]byte(tc.in))
		got, ok := s.String()
		if ok != tc.ok || got != tc.want {
			t.Errorf("String(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestInt(t *testing.T) {
	for _, tc := range []struct {
		in   string
		bits int
		want int64
		ok   bool
	}{
		{"0", 64, 0, true},
		{"-0", 64, 0, true},
		{"42", 64, 42, true},
		{"-9223372036854775808", 64, -9223372036854775808, true},
		{"9223372036854775808", 64, 0, false},
		{"128", 8, 0, false},
		{"1.5", 64, 0, false},
		{"1e3", 64, 0, false},
		{"-", 64, 0, false},
		{"x", 64, 0, false},
	} {
		s := jsonscan.New([]byte(tc.in))
		got, ok := s.Int(tc.bits)
		if ok != tc.ok || (ok && got != tc.want) {
			t.Errorf("Int(%q, %d) = %d, %v; want %d, %v", tc.in, tc.bits, got, ok, tc.want, tc.ok)
		}
	}
}

// TestValue: Value accepts a JSON value exactly when encoding/json does
// (within MaxDepth).
func TestValue(t *testing.T) {
	for _, in := range []string{
		`{}`, `[]`, `{"a":[1,-0.5e+3,true,false,null,"\u00e9\n"]}`, `"s"`, `-0`, `1E9`,
		`{"a":01}`, `{"a":1.}`, `[1,]`, `{"a"}`, `{a:1}`, `tru`, `"\q"`, `[`, `--1`, `.5`,
	} {
		s := jsonscan.New([]byte(in))
		got := s.Value() && s.End()
		if want := json.Valid([]byte(in)); got != want {
			t.Errorf("Value(%s) = %v, encoding/json says %v", in, got, want)
		}
	}
}

// FuzzString holds String to encoding/json's decoding of a string.
func FuzzString(f *testing.F) {
	for _, s := range []string{`"plain"`, `"a\"b\\c"`, `"\u003c\u00e9\n"`, "\"\xff\"", `"\ud83d\udd25"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := jsonscan.New(b)
		got, ok := s.String()
		if !ok || !s.End() {
			return
		}
		var want string
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("String accepted %q, which encoding/json rejects: %v", b, err)
		}
		if got != want {
			t.Fatalf("String(%q) = %q, encoding/json %q", b, got, want)
		}
	})
}

// FuzzValue holds Value to encoding/json's idea of valid JSON.
func FuzzValue(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e-3,"x\n"]}`, `[true,false,null]`, `{"a":01}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s := jsonscan.New(b)
		s.WS()
		if s.Value() && s.End() && !json.Valid(b) {
			t.Fatalf("Value accepted invalid JSON %q", b)
		}
	})
}

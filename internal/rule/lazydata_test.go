package rule

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/google/cel-go/common/types"

	"github.com/aftershock/aftershock/internal/event"
)

// agree checks that reading each field lazily gives what a full decode
// gives.
func agree(t *testing.T, typ string, raw []byte) {
	t.Helper()
	full, err := DecodeData(typ, raw)
	if err != nil {
		return // not an object: nothing to compare
	}
	v := NewView(&event.Event{ID: "x", Type: typ, Data: raw}, false)
	for k, want := range full {
		got, found, err := v.field(k)
		if err != nil || !found {
			t.Fatalf("%s: field %q: found %v, err %v", raw, k, found, err)
		}
		g := got.Value()
		if got == types.NullValue {
			g = nil
		}
		if !reflect.DeepEqual(normal(g), normal(want)) {
			t.Fatalf("%s: field %q: lazy %#v, full %#v", raw, k, g, want)
		}
	}
	if _, found, err := v.field("no-such-field-here"); found || err != nil {
		t.Fatalf("%s: absent field found=%v err=%v", raw, found, err)
	}
}

// normal makes CEL's wrapped containers comparable with plain decoding.
func normal(x any) any {
	b, _ := json.Marshal(x)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func TestLazyDataAgreesWithFullDecode(t *testing.T) {
	for _, tt := range []struct{ typ, raw string }{
		{"kernel.oom", `{"constraint":"global","victim_pid":42,"meminfo":{"mem_free_kb":10,"mem_total_kb":20},"lines":["a","b}"]}`},
		{"node.reboot", ` { "clean" : false , "last_heartbeat":"2020-06-14T13:14:38Z", "sources": [ ] , "cause_detail": "kernel BUG at \"fs.h\":2582!" }`},
		{"app.custom", `{"a\u0062c":1.5,"n":null,"t":true,"s":"x\\y","o":{"k":[1,{"z":"]"}]}}`},
		{"dns.timeout", `{}`},
	} {
		agree(t, tt.typ, []byte(tt.raw))
	}
}

func FuzzLazyData(f *testing.F) {
	f.Add(`{"constraint":"global","victim_pid":42,"meminfo":{"mem_free_kb":10}}`)
	f.Add(`{"a\u0062c":[1,"}",{"x":null}],"b":-1.5e3}`)
	f.Fuzz(func(t *testing.T, raw string) {
		// Events carry an object or nothing (event.Validate).
		if !json.Valid([]byte(raw)) || !strings.HasPrefix(strings.TrimSpace(raw), "{") {
			return
		}
		agree(t, "app.fuzz", []byte(raw))
		agree(t, "kernel.oom", []byte(raw))
	})
}

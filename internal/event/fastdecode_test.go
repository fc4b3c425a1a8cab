package event

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// FuzzDecodeParity holds the fast path to encoding/json's: whenever it
// accepts an input, the slow path must accept it too and decode the same
// event.
func FuzzDecodeParity(f *testing.F) {
	for _, s := range parityCorpus(f) {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Event
		if !decodeFast(b, &fast) {
			return
		}
		var slow Event
		if err := decodeSlow(b, &slow); err != nil {
			t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", err, b)
		}
		if !fast.Time.Equal(slow.Time) || fast.Time.Location().String() != slow.Time.Location().String() {
			t.Fatalf("time differs: %v vs %v for %q", fast.Time, slow.Time, b)
		}
		fast.Time = slow.Time
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast %+v\nslow %+v\nfor %q", fast, slow, b)
		}
	})
}

func parityCorpus(tb testing.TB) []string {
	c := []string{
		valid,
		benchDNS,
		` ` + valid + "\n",
		`{}`,
		`{"ID":"x"}`,
		`{"id":"a\"b"}`,
		`{"id":null}`,
		`{"data":null}`,
		`{"data":{"a":[1,-0.5e+3,true,false,null,"\u00e9\n"]}}`,
		`{"data":{"a":01}}`,
		`{"data":{"a":1.}}`,
		`{"x":{"y":[]},"id":"1"}`,
		`{"id":"1","id":"2"}`,
		`{"time":"2020-06-14T13:15:39+08:00"}`,
		`{"time":"2020-06-14 13:15:39"}`,
		`{"node":"\xff"}`,
		`{"ſource":"x"}`,
		`{"id":"1"} {}`,
		`[1]`,
	}
	for _, ex := range docExamples(tb) {
		c = append(c, ex, strings.Join(strings.Fields(ex), " "))
	}
	return c
}

// docExamples are the JSON examples of docs/events.md: realistic inputs.
func docExamples(tb testing.TB) []string {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "events.md"))
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, m := range regexp.MustCompile("(?s)```json\n(.*?)```").FindAllStringSubmatch(string(doc), -1) {
		out = append(out, m[1])
	}
	return out
}

func TestFastPathTakesCommonEvents(t *testing.T) {
	inputs := append([]string{valid, benchDNS, " " + valid + "\n"}, docExamples(t)...)
	if len(inputs) < 20 {
		t.Fatalf("only %d inputs: docs/events.md examples not found", len(inputs))
	}
	for _, s := range inputs {
		var e Event
		if !decodeFast([]byte(s), &e) {
			t.Errorf("fast path refused a plain event:\n%s", s)
		}
	}
}

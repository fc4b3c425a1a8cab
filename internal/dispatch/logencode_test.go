package dispatch

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// TestAppendLog: what appendLog writes decodes to what json.Marshal's
// bytes decode to, for logs with nil and empty maps, text json.Marshal
// escapes (HTML, control characters, U+2028, invalid UTF-8), parts, and
// big groups; a time json.Marshal refuses goes to json.Marshal.
func TestAppendLog(t *testing.T) {
	at := time.Date(2026, 12, 4, 3, 0, 0, 123456789, time.FixedZone("CST", 8*3600))
	odd := "a<b>&\"c\\\n\t\x01\u2028\xff é"
	for name, r := range map[string]*LogRecord{
		"nil maps":   {GroupID: "g", Receiver: "r", At: at},
		"empty maps": {GroupID: "g", Receiver: "r", Labels: map[string]string{}, Firing: map[string]string{}, Updates: map[string]int{}, Starts: map[string]time.Time{}},
		"odd text": {GroupID: odd, Receiver: odd, Route: odd, Labels: map[string]string{odd: odd, "cluster": "prod"}, Drill: true, At: at,
			Firing: map[string]string{odd: odd}, Updates: map[string]int{odd: -3}, Starts: map[string]time.Time{odd: at}, Ref: odd},
		"parts": {GroupID: "g", Receiver: "r", At: at, Parts: &LogParts{Count: 3, Bytes: 2500000, SHA256: "ab12"}},
		"big":   bigLog("g1", 5000),
	} {
		t.Run(name, func(t *testing.T) {
			fast, ok := appendLog(nil, r)
			if !ok {
				t.Fatal("refused")
			}
			slow, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			var got, want LogRecord
			if err := json.Unmarshal(fast, &got); err != nil {
				t.Fatalf("%v: %s", err, fast)
			}
			if err := json.Unmarshal(slow, &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("decoded\n%+v\nwant\n%+v", got, want)
			}
			var gotAny, wantAny any // the same keys and JSON types too
			_ = json.Unmarshal(fast, &gotAny)
			_ = json.Unmarshal(slow, &wantAny)
			if !reflect.DeepEqual(gotAny, wantAny) {
				t.Errorf("as JSON\n%s\nwant\n%s", fast, slow)
			}
		})
	}
	far := &LogRecord{GroupID: "g", Receiver: "r", At: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, ok := appendLog(nil, far); ok {
		t.Error("a year past 9999 was written")
	}
	_, want := json.Marshal(far)
	if _, err := encode(far); err == nil || want == nil || err.Error() != want.Error() {
		t.Errorf("encode %v, want json.Marshal's error %v", err, want)
	}
}

func BenchmarkEncodeLog(b *testing.B) {
	r := bigLog("g1", 60_000)
	b.Run("appendLog", func(b *testing.B) {
		for b.Loop() {
			if _, ok := appendLog(make([]byte, 0, 256+128*len(r.Firing)), r); !ok {
				b.Fatal("refused")
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

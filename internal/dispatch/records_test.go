package dispatch

import (
	"encoding/json"
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
)

// storedRecord is an alert record as the KVStore writes it: the alert's
// bytes from ALERTS, the time, and news.
func storedRecord(tb testing.TB, news bool) (key string, b []byte) {
	tb.Helper()
	now := time.Date(2026, 12, 4, 13, 0, 0, 123, time.UTC)
	a := &alert.Alert{ID: "id-1", Fingerprint: "fp1", Rule: "node-down", Severity: "warning", State: alert.Firing,
		Labels: map[string]string{"cluster": "c01", "node": "node-00001"}, Summary: "node-00001 silent for 60s <since 13:00> & counting",
		StartsAt: now, WindowStart: now, WindowEnd: now, CreatedAt: now}
	for j := range 4 {
		a.Evidence = append(a.Evidence, event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("ev-%d", j), Source: "aftershock/collector/node-00001",
			Type: event.TypeHeartbeat, Time: now.Add(-time.Duration(j) * 10 * time.Second), Cluster: "c01", Node: "node-00001",
			Data: []byte(`{"boot_id":"281c2a66","uptime_seconds":86400.5,"interval_seconds":10}`)})
	}
	raw, err := a.Encode()
	if err != nil {
		tb.Fatal(err)
	}
	r := &AlertRecord{Alert: a, Updated: now, raw: raw}
	if news {
		r.News = []News{{Update: 2, Notes: []string{"cause found: kernel BUG at include/linux/fs.h:2582!"}}, {Update: 3, Notes: []string{}}}
	}
	b, err = encode(r)
	if err != nil {
		tb.Fatal(err)
	}
	return keyAlert + a.Fingerprint, b
}

func TestAlertRecordFastPath(t *testing.T) {
	for _, news := range []bool{false, true} {
		key, b := storedRecord(t, news)
		var fast AlertRecord
		if !scanAlertRecord(b, &fast) {
			t.Fatalf("fast path refused a stored record:\n%s", b)
		}
		var slow AlertRecord
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast %+v\nslow %+v", fast, slow)
		}
		got, err := decodeAlertRecord(key, b)
		if err != nil || !reflect.DeepEqual(*got, slow) {
			t.Fatalf("decodeAlertRecord = %+v, %v", got, err)
		}
	}
}

// TestAlertRecordChecks: the checks every reader makes hold on both paths.
func TestAlertRecordChecks(t *testing.T) {
	key, b := storedRecord(t, false)
	for _, tc := range []struct{ name, key, in string }{
		{"another key", "alert.other", string(b)},
		{"no alert", key, `{"updated":"2026-12-04T13:00:00Z"}`},
		{"null alert", key, `{"alert":null}`},
		{"a JetStream ack", key, `{"stream":"ALERTS","seq":7}`},
		{"not JSON", key, `{"alert":`},
	} {
		if r, err := decodeAlertRecord(tc.key, []byte(tc.in)); err == nil {
			t.Errorf("%s: decoded %+v", tc.name, r)
		}
	}
}

func FuzzAlertRecordParity(f *testing.F) {
	for _, news := range []bool{false, true} {
		_, b := storedRecord(f, news)
		f.Add(b)
	}
	f.Add([]byte(`{"alert":{"id":"x"},"news":[{"update":1},{"notes":[]}],"news":[]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast AlertRecord
		if !scanAlertRecord(b, &fast) {
			return
		}
		var slow AlertRecord
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatalf("fast path accepted what encoding/json rejects (%v): %q", err, b)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("fast %+v\nslow %+v\nfor %q", fast, slow, b)
		}
	})
}

func BenchmarkDecodeAlertRecord(b *testing.B) {
	key, raw := storedRecord(b, true)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeAlertRecord(key, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeAlertRecordSlow is encoding/json's path alone.
func BenchmarkDecodeAlertRecordSlow(b *testing.B) {
	_, raw := storedRecord(b, true)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		var r AlertRecord
		if err := json.Unmarshal(raw, &r); err != nil {
			b.Fatal(err)
		}
	}
}

// TestEncodeAsJSONMarshal: what the store writes for an alert record (the
// alert's bytes from ALERTS, or alert.Encode's, wrapped) and for its head
// is what json.Marshal writes.
func TestEncodeAsJSONMarshal(t *testing.T) {
	for _, news := range []bool{false, true} {
		_, b := storedRecord(t, news)
		var r AlertRecord
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		want, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != string(want) {
			t.Errorf("with the ALERTS bytes:\n%s\njson.Marshal:\n%s", b, want)
		}
		got, err := encode(&r) // no raw bytes: alert.Encode
		if err != nil || string(got) != string(want) {
			t.Errorf("encoded:\n%s (%v)\njson.Marshal:\n%s", got, err, want)
		}
		head, err := headOf(&r)
		if err != nil {
			t.Fatal(err)
		}
		a := r.Alert
		h := &AlertRecord{Alert: &alert.Alert{ID: a.ID, Fingerprint: a.Fingerprint, Rule: a.Rule, Severity: a.Severity, State: a.State,
			Labels: a.Labels, GroupKey: a.GroupKey, Receivers: a.Receivers, WindowStart: a.WindowStart, StartsAt: a.StartsAt,
			EndsAt: a.EndsAt, Drill: a.Drill, Update: a.Update, CreatedAt: a.CreatedAt}, Updated: r.Updated, News: r.News}
		if want, _ := json.Marshal(h); string(head) != string(want) {
			t.Errorf("head:\n%s\njson.Marshal:\n%s", head, want)
		}
	}
	// encode writes these fields by hand: a field added to AlertRecord must
	// be added there too.
	var tags []string
	for f := range reflect.TypeFor[AlertRecord]().Fields() {
		if tag := f.Tag.Get("json"); f.IsExported() && tag != "-" {
			tags = append(tags, tag)
		}
	}
	if want := []string{"alert", "updated", "news,omitempty"}; !reflect.DeepEqual(tags, want) {
		t.Errorf("AlertRecord's JSON fields are %q; encode writes %q", tags, want)
	}
	if b, err := encode(&AlertRecord{}); err != nil || string(b) != `{"alert":null,"updated":"0001-01-01T00:00:00Z"}` {
		t.Errorf("a record without an alert: %s, %v", b, err)
	}
}

// BenchmarkHead: an alert record's head as the store's writer makes it,
// and with json.Marshal alone for comparison.
func BenchmarkHead(b *testing.B) {
	_, raw := storedRecord(b, true)
	var r AlertRecord
	if err := json.Unmarshal(raw, &r); err != nil {
		b.Fatal(err)
	}
	b.Run("headOf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := headOf(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("json.Marshal", func(b *testing.B) {
		b.ReportAllocs()
		a := r.Alert
		for b.Loop() {
			h := &AlertRecord{Alert: &alert.Alert{ID: a.ID, Fingerprint: a.Fingerprint, Rule: a.Rule, Severity: a.Severity, State: a.State,
				Labels: a.Labels, GroupKey: a.GroupKey, Receivers: a.Receivers, WindowStart: a.WindowStart, StartsAt: a.StartsAt,
				EndsAt: a.EndsAt, Drill: a.Drill, Update: a.Update, CreatedAt: a.CreatedAt}, Updated: r.Updated, News: r.News}
			if _, err := json.Marshal(h); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package event_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/event"
)

func TestCheckData(t *testing.T) {
	tests := []struct {
		name, typ, data, want string
	}{
		{"heartbeat", event.TypeHeartbeat, `{"boot_id":"b","uptime_seconds":5.5,"interval_seconds":10}`, ""},
		{"unknown fields are allowed", event.TypeHeartbeat, `{"boot_id":"b","extra":{"x":[1]}}`, ""},
		{"app types have no schema", "shop.checkout_failed", `{"uptime_seconds":"whatever"}`, ""},
		{"null is the zero value", event.TypeHeartbeat, `{"meminfo":null}`, ""},
		{"number as a string", event.TypeHeartbeat, `{"boot_id":"b","uptime_seconds":"5"}`, `data.uptime_seconds: "5" is a string, want a number`},
		{"string as a number", event.TypeHeartbeat, `{"boot_id":7}`, `data.boot_id: 7 is a number, want a string`},
		{"nested integer", event.TypeHeartbeat, `{"meminfo":{"mem_free_kb":1.5}}`, `data.meminfo.mem_free_kb: 1.5 is not an integer`},
		{"struct as a string", event.TypeHeartbeat, `{"meminfo":"lots"}`, `data.meminfo: "lots" is a string, want an object`},
		{"time", event.TypeKernelBug, `{"signature":"s","summary":"x","count":1,"first":"yesterday"}`, `data.first: "yesterday" is not an RFC 3339 time`},
		{"array element", event.TypeKernelBug, `{"signature":"s","summary":"x","count":1,"lines":["a",2]}`, `data.lines[1]: 2 is a number, want a string`},
		{"array as an object", event.TypeKernelBug, `{"signature":"s","summary":"x","count":1,"call_trace":{"a":1}}`, `data.call_trace: an object, want an array`},
		{"boolean", event.TypePosture, `{"kdump":{"ready":"yes"}}`, `data.kdump.ready: "yes" is a string, want true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := event.CheckData(tt.typ, []byte(tt.data))
			if tt.want == "" {
				if err != nil {
					t.Fatalf("got %v", err)
				}
				return
			}
			if !errors.Is(err, event.ErrData) || err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

// TestAttributesRefuseControlCharacters: a NUL, an escape or a newline in
// any attribute is refused with the attribute and the byte named.
func TestAttributesRefuseControlCharacters(t *testing.T) {
	tests := []struct {
		attr, value, want string
	}{
		{"node", `n1\u0000`, `node "n1\x00": control character U+0000 at byte 2`},
		{"cluster", `prod\u001b[31m`, `cluster "prod\x1b[31m": control character U+001B at byte 4`},
		{"source", `app\n`, `source "app\n": control character U+000A at byte 3`},
		{"subject", `pod\u0085x`, `subject "pod\u0085x": control character U+0085 at byte 3`},
		{"datacontenttype", `application/json\u007f`, `control character U+007F at byte 16`},
		{"node", `n1\tx`, `control character U+0009 at byte 2`},
	}
	for _, tt := range tests {
		t.Run(tt.attr, func(t *testing.T) {
			attrs := map[string]string{"source": "app", "subject": "s", "datacontenttype": "application/json", "cluster": "prod", "node": "n1"}
			attrs[tt.attr] = tt.value
			raw := fmt.Sprintf(`{"specversion":"1.0","id":"01J0000000000000000000000A","type":"rpc.timeout","time":"2026-01-01T00:00:00Z","source":"%s","subject":"%s","datacontenttype":"%s","cluster":"%s","node":"%s"}`,
				attrs["source"], attrs["subject"], attrs["datacontenttype"], attrs["cluster"], attrs["node"])
			_, err := event.Decode([]byte(raw))
			if !errors.Is(err, event.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
	ok := `{"specversion":"1.0","id":"01J0000000000000000000000A","type":"rpc.timeout","time":"2026-01-01T00:00:00Z","source":"app/ünïcode ✓","cluster":"prod","node":"节点-1"}`
	if _, err := event.Decode([]byte(ok)); err != nil {
		t.Fatalf("printable Unicode refused: %v", err)
	}
}

func TestKiB(t *testing.T) {
	for _, tc := range []struct {
		kb   int64
		want string
	}{
		{0, "0 KiB"},
		{900, "900 KiB"},
		{1024, "1 MiB"},
		{524288, "512 MiB"},
		{1048575, "1023 MiB"},
		{1048576, "1.0 GiB"},
		{7204932, "6.9 GiB"},
		{16266500, "15.5 GiB"},
	} {
		if got := event.KiB(tc.kb); got != tc.want {
			t.Errorf("KiB(%d) = %q, want %q", tc.kb, got, tc.want)
		}
	}
}

package ingest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/event"
)

// TestLocalAgent checks the collector's mode: an app's event without cluster
// or node gets the agent's, an event for another node is refused at once
// (its NATS user could not store it), and Alertmanager is not served.
func TestLocalAgent(t *testing.T) {
	f := newFixture(t, func(o *Options) {
		o.Local = true
		o.Cluster, o.Node = "prod", "172.21.128.138"
	})
	bare := strings.Replace(strings.Replace(ce("01J0000000000000000000000L", "rpc.timeout"), `"cluster":"prod",`, "", 1), `"node":"172.21.128.138",`, "", 1)
	tests := []struct {
		name string
		body string
		code int
		why  string
	}{
		{"no cluster or node", bare, http.StatusAccepted, ""},
		{"own node", ce("01J0000000000000000000000M", "rpc.timeout"), http.StatusAccepted, ""},
		{"another node", strings.Replace(ce("01J0000000000000000000000N", "rpc.timeout"), "172.21.128.138", "172.21.128.47", 1), http.StatusBadRequest, `not cluster "prod" node "172.21.128.47"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, resp, _ := f.post(PathEvents, event.ContentType, tt.body)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %+v", code, tt.code, resp)
			}
			if tt.why != "" && (len(resp.Problems) != 1 || !strings.Contains(resp.Problems[0].Reason, tt.why)) {
				t.Fatalf("problems %+v, want one mentioning %q", resp.Problems, tt.why)
			}
		})
	}
	msgs := f.stored()
	if len(msgs) != 2 {
		t.Fatalf("stored %d events, want 2", len(msgs))
	}
	ev, err := event.Decode(msgs[0].Data)
	if err != nil || ev.Cluster != "prod" || ev.Node != "172.21.128.138" || msgs[0].Subject != "events.prod.172_21_128_138.rpc" {
		t.Fatalf("filled event %+v on %s: %v", ev, msgs[0].Subject, err)
	}
	req, _ := http.NewRequest(http.MethodPost, f.url+PathAlertmanager, strings.NewReader(`{}`))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("alertmanager on a node agent: %d, want not served", resp.StatusCode)
	}
}

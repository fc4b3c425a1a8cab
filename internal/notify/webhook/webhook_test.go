package webhook_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/notify/notifytest"
	"github.com/aftershock/aftershock/internal/notify/webhook"
)

const secret = "hmac-secret-value"

// fakeHook checks every request's format and signature and records the
// payloads it accepted; script makes it misbehave.
type fakeHook struct {
	t      testing.TB
	script *notifytest.Script
	mu     sync.Mutex
	got    []notify.Payload
}

func (f *fakeHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" || r.URL.Path != "/hook/T0KEN" {
		f.t.Errorf("request %s %s %s", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
	}
	if err := webhook.Verify(secret, r.Header, body, time.Now(), 5*time.Minute); err != nil {
		f.t.Errorf("signature: %v", err)
	}
	if notifytest.Apply(f.script.Next(), w, r) {
		return
	}
	var p notify.Payload
	if err := json.Unmarshal(body, &p); err != nil || p.Version != "4" {
		f.t.Errorf("payload %s: %v", body, err)
	}
	f.mu.Lock()
	f.got = append(f.got, p)
	f.mu.Unlock()
}

func (f *fakeHook) accepted() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.got)
}

func message() *notify.Message {
	return notifytest.Message("hooks", "g1",
		notifytest.Alert("node-crash", "fp1", alert.Firing, map[string]string{"node": "n1"}),
		notifytest.Alert("dns-timeouts", "fp2", alert.Resolved, map[string]string{"node": "n2"}))
}

var backoff = notify.Backoff{Initial: time.Second, Max: 10 * time.Second, MaxElapsed: 2 * time.Minute}

// TestFaults runs each misbehaviour on an in-memory network under fake
// time: the notification is delivered exactly once when the server
// recovers, or dead-lettered with the reason.
func TestFaults(t *testing.T) {
	tests := []struct {
		name       string
		faults     []notifytest.Fault
		wantReason string // "" = delivered
		minWait    time.Duration
	}{
		{"ok", nil, "", 0},
		{"503 then recovers", []notifytest.Fault{{Status: 503}, {Status: 502}}, "", 1500 * time.Millisecond},
		{"429 honours Retry-After", []notifytest.Fault{{Status: 429, RetryAfter: "30"}}, "", 30 * time.Second},
		{"slow reply times out, then recovers", []notifytest.Fault{{Delay: time.Minute}}, "", 5 * time.Second},
		{"connection reset, then recovers", []notifytest.Fault{{Reset: true}}, "", 500 * time.Millisecond},
		{"404 is permanent", []notifytest.Fault{{Status: 404, Body: "no such hook"}}, "http 404", 0},
		{"400 is permanent", []notifytest.Fault{{Status: 400}}, "http 400", 0},
		{"always 500: retries exhausted", repeat(notifytest.Fault{Status: 500}, 100), "http 500", time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				fake := &fakeHook{t: t, script: notifytest.NewScript(tt.faults...)}
				client, base := notifytest.ServePipe(t, fake, 5*time.Second)
				w, err := webhook.New(webhook.Options{Name: "hooks", URL: base + "/hook/T0KEN", HMACSecret: secret, Client: client})
				if err != nil {
					t.Fatal(err)
				}
				start := time.Now()
				res := notifytest.DeliverOnce(t, w, message(), backoff)
				if took := time.Since(start); took < tt.minWait {
					t.Errorf("outcome after %s, want at least %s", took, tt.minWait)
				}
				if tt.wantReason == "" {
					if res.Err != nil || fake.accepted() != 1 {
						t.Fatalf("err %v, accepted %d; want delivered once", res.Err, fake.accepted())
					}
					return
				}
				if len(res.Dead) != 1 || fake.accepted() != 0 {
					t.Fatalf("dead letters %d, accepted %d", len(res.Dead), fake.accepted())
				}
				if _, _, reason := notify.Classify(res.Dead[0].Cause); reason != tt.wantReason {
					t.Errorf("reason %q, want %q", reason, tt.wantReason)
				}
				if strings.Contains(res.Dead[0].Cause.Error(), "T0KEN") {
					t.Errorf("dead letter reason leaks the URL: %v", res.Dead[0].Cause)
				}
			})
		})
	}
}

// TestRealNetwork repeats the transport faults over real TCP: a reset
// connection (RST) and a refused one.
func TestRealNetwork(t *testing.T) {
	fake := &fakeHook{t: t, script: notifytest.NewScript(notifytest.Fault{Reset: true}, notifytest.Fault{Status: 503})}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	w, _ := webhook.New(webhook.Options{Name: "hooks", URL: srv.URL + "/hook/T0KEN", HMACSecret: secret,
		Client: &http.Client{Timeout: 30 * time.Second}})
	res := notifytest.DeliverOnce(t, w, message(), notify.Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, MaxElapsed: 10 * time.Second})
	if res.Err != nil || fake.accepted() != 1 {
		t.Fatalf("err %v accepted %d", res.Err, fake.accepted())
	}

	srv.Close() // now refused: retried until the budget, then dead-lettered without the URL
	res = notifytest.DeliverOnce(t, w, message(), notify.Backoff{Initial: 10 * time.Millisecond, Max: 20 * time.Millisecond, MaxElapsed: 200 * time.Millisecond})
	if len(res.Dead) != 1 || strings.Contains(res.Dead[0].Cause.Error(), "T0KEN") || !strings.Contains(res.Dead[0].Cause.Error(), "<redacted>") {
		t.Fatalf("dead letter %+v", res.Dead)
	}
}

func TestPayloadSigned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := &fakeHook{t: t}
		client, base := notifytest.ServePipe(t, fake, 5*time.Second)
		w, _ := webhook.New(webhook.Options{Name: "hooks", URL: base + "/hook/T0KEN", HMACSecret: secret, Client: client})
		if res := notifytest.DeliverOnce(t, w, message(), backoff); res.Err != nil {
			t.Fatal(res.Err)
		}
		p := fake.got[0]
		if p.Status != alert.Firing || len(p.Alerts) != 2 || p.Alerts[1].Status != alert.Resolved || p.Receiver != "hooks" || p.GroupKey != "g1" {
			t.Errorf("payload %+v", p)
		}
	})
	body := []byte(`{"x":1}`)
	h := http.Header{}
	h.Set(webhook.HeaderTimestamp, "1700000000")
	h.Set(webhook.HeaderSignature, webhook.Sign(secret, "1700000000", body))
	now := time.Unix(1700000000, 0)
	if err := webhook.Verify(secret, h, body, now, time.Minute); err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]error{
		"tampered body": webhook.Verify(secret, h, []byte(`{"x":2}`), now, time.Minute),
		"wrong secret":  webhook.Verify("other", h, body, now, time.Minute),
		"replayed late": webhook.Verify(secret, h, body, now.Add(time.Hour), time.Minute),
	} {
		if check == nil {
			t.Errorf("%s: verified", name)
		}
	}
}

func repeat(f notifytest.Fault, n int) []notifytest.Fault {
	out := make([]notifytest.Fault, n)
	for i := range out {
		out[i] = f
	}
	return out
}

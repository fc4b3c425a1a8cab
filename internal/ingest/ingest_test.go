package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/bus/embedded"
	"github.com/aftershock/aftershock/internal/event"
)

type fixture struct {
	t    testing.TB
	srv  *server.Server
	conn *bus.Conn
	h    *Handler
	url  string
}

func newFixture(t testing.TB, mod func(*Options)) *fixture {
	t.Helper()
	s := bustest.Server(t)
	return newFixtureOn(t, s, mod)
}

func newFixtureOn(t testing.TB, s *server.Server, mod func(*Options)) *fixture {
	t.Helper()
	conn := bustest.Connect(t, s)
	opts := Options{JS: conn.JS, Registry: prometheus.NewRegistry(), Cluster: "prod", Node: "central", Log: bustest.Logger(t)}
	if mod != nil {
		mod(&opts)
	}
	h, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Mount(mux)
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)
	return &fixture{t: t, srv: s, conn: conn, h: h, url: hs.URL}
}

func (f *fixture) post(path, ct, body string, header ...string) (int, Response, http.Header) {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodPost, f.url+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	req.Header.Set("Content-Type", ct)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out Response
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		f.t.Fatalf("response body: %v", err)
	}
	return resp.StatusCode, out, resp.Header
}

// stored returns every message in EVENTS, in order.
func (f *fixture) stored() []*jetstream.RawStreamMsg {
	f.t.Helper()
	ctx := context.Background()
	st, err := f.conn.JS.Stream(ctx, bus.StreamEvents)
	if err != nil {
		f.t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []*jetstream.RawStreamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			f.t.Fatalf("get %d: %v", seq, err)
		}
		out = append(out, m)
	}
	return out
}

func ce(id, typ string) string {
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"app/order","type":%q,"time":"2020-06-14T13:15:40.5Z","cluster":"prod","node":"172.21.128.138","data":{"service":"order","peer":"user","count":1}}`, id, typ)
}

func batch(evs ...string) string { return "[" + strings.Join(evs, ",") + "]" }

func TestSingleEventStoredOnce(t *testing.T) {
	f := newFixture(t, nil)
	for try := range 2 {
		code, resp, _ := f.post(PathEvents, event.ContentType, ce("01J0000000000000000000000A", "rpc.timeout"))
		if code != http.StatusAccepted || resp.Stored != 1 || resp.IDs[0] != "01J0000000000000000000000A" {
			t.Fatalf("try %d: %d %+v", try, code, resp)
		}
	}
	msgs := f.stored()
	if len(msgs) != 1 {
		t.Fatalf("stored %d messages after a retry, want 1", len(msgs))
	}
	m := msgs[0]
	if m.Subject != "events.prod.172_21_128_138.rpc" || m.Header.Get(jetstream.MsgIDHeader) != "01J0000000000000000000000A" {
		t.Fatalf("stored on %s with id %q", m.Subject, m.Header.Get(jetstream.MsgIDHeader))
	}
	if _, err := event.Decode(m.Data); err != nil {
		t.Fatalf("stored event does not decode: %v", err)
	}
	// The charset parameter is allowed.
	if code, resp, _ := f.post(PathEvents, event.ContentType+"; charset=utf-8", ce("01J0000000000000000000000B", "rpc.timeout")); code != http.StatusAccepted {
		t.Fatalf("with charset: %d %+v", code, resp)
	}
}

func TestBatchAtomicAndRetried(t *testing.T) {
	f := newFixture(t, nil)
	b := batch(ce("a1", "rpc.timeout"), ce("a2", "dns.timeout"), ce("a3", "app.custom"))
	code, resp, _ := f.post(PathEvents, BatchContentType, b)
	if code != http.StatusAccepted || resp.Stored != 3 {
		t.Fatalf("batch: %d %+v", code, resp)
	}
	// A retry (the 202 was lost) and a batch overlapping it store each event once.
	if code, resp, _ := f.post(PathEvents, BatchContentType, b); code != http.StatusAccepted || resp.Stored != 3 {
		t.Fatalf("retried batch: %d %+v", code, resp)
	}
	if code, resp, _ := f.post(PathEvents, BatchContentType, batch(ce("a3", "app.custom"), ce("a4", "rpc.timeout"))); code != http.StatusAccepted {
		t.Fatalf("overlapping batch: %d %+v", code, resp)
	}
	msgs := f.stored()
	var got []string
	for _, m := range msgs {
		got = append(got, m.Header.Get(jetstream.MsgIDHeader)+"@"+m.Subject)
	}
	want := []string{
		"a1@events.prod.172_21_128_138.rpc", "a2@events.prod.172_21_128_138.dns",
		"a3@events.prod.172_21_128_138.app", "a4@events.prod.172_21_128_138.rpc",
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("stored %v\nwant %v", got, want)
	}
	if v := testutil.ToFloat64(f.h.m.events.WithLabelValues("events", "stored")); v != 8 {
		t.Fatalf("events stored counter = %v, want 8", v)
	}
}

func TestInvalidInputStoresNothing(t *testing.T) {
	f := newFixture(t, nil)
	good := ce("g1", "rpc.timeout")
	tests := []struct {
		name     string
		ct, body string
		status   int
		mention  string
		problems []Problem // index and reason substring
	}{
		{"not json", event.ContentType, `{"specversion":`, 400, "malformed", []Problem{{Index: 0, Reason: "unexpected EOF"}}},
		{"missing id", event.ContentType, strings.Replace(good, `"id":"g1",`, "", 1), 400, "missing required attribute: id", nil},
		{"wrong specversion", event.ContentType, strings.Replace(good, `"1.0"`, `"0.3"`, 1), 400, "unsupported specversion", []Problem{{ID: "g1", Reason: "0.3"}}},
		{"bad time", event.ContentType, strings.Replace(good, `2020-06-14T13:15:40.5Z`, `yesterday`, 1), 400, "RFC 3339", nil},
		{"data not object", event.ContentType, strings.Replace(good, `{"service":"order","peer":"user","count":1}`, `[1]`, 1), 400, "data must be a JSON object", nil},
		{"two events in structured mode", event.ContentType, good + good, 400, "trailing", nil},
		{"unsupported content type", "application/json", good, 415, "application/cloudevents+json", nil},
		{"no content type", "", good, 415, "want application/cloudevents+json", nil},
		{"batch not an array", BatchContentType, good, 400, "want a JSON array", nil},
		{"empty batch", BatchContentType, `[]`, 400, "empty", nil},
		{"batch trailing data", BatchContentType, batch(good) + "x", 400, "trailing", nil},
		{
			"batch with bad events", BatchContentType,
			batch(good, strings.Replace(ce("b2", "rpc.timeout"), `"cluster":"prod",`, "", 1), ce("g1", "dns.timeout"), `7`),
			400, "3 of 4 events invalid; nothing stored",
			[]Problem{
				{Index: 1, ID: "b2", Reason: "missing required attribute: cluster"},
				{Index: 2, ID: "g1", Reason: "duplicate id: event 0"},
				{Index: 3, Reason: "malformed"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, resp, _ := f.post(PathEvents, tt.ct, tt.body)
			if code != tt.status || !strings.Contains(resp.Error, tt.mention) {
				t.Fatalf("got %d %q, want %d mentioning %q", code, resp.Error, tt.status, tt.mention)
			}
			if tt.problems != nil {
				if len(resp.Problems) != len(tt.problems) {
					t.Fatalf("problems %+v, want %+v", resp.Problems, tt.problems)
				}
				for i, want := range tt.problems {
					got := resp.Problems[i]
					if got.Index != want.Index || got.ID != want.ID || !strings.Contains(got.Reason, want.Reason) {
						t.Errorf("problem %d = %+v, want %+v", i, got, want)
					}
				}
			}
		})
	}
	if n := len(f.stored()); n != 0 {
		t.Fatalf("invalid input stored %d events", n)
	}
	if v := testutil.ToFloat64(f.h.m.requests.WithLabelValues("events", "invalid")); v != float64(len(tests)) {
		t.Fatalf("invalid requests counter = %v, want %d", v, len(tests))
	}
}

func TestLimits(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.MaxBytes = 4096; o.MaxBatch = 3 })
	big := strings.Replace(ce("big", "rpc.timeout"), `"count":1`, `"pad":"`+strings.Repeat("x", 5000)+`"`, 1)
	if code, resp, _ := f.post(PathEvents, event.ContentType, big); code != http.StatusRequestEntityTooLarge || !strings.Contains(resp.Error, "4096") {
		t.Fatalf("oversize: %d %+v", code, resp)
	}
	four := batch(ce("1", "a.b"), ce("2", "a.b"), ce("3", "a.b"), ce("4", "a.b"))
	if code, resp, _ := f.post(PathEvents, BatchContentType, four); code != http.StatusBadRequest || !strings.Contains(resp.Error, "limit 3") {
		t.Fatalf("batch over max: %d %+v", code, resp)
	}
	if n := len(f.stored()); n != 0 {
		t.Fatalf("stored %d", n)
	}
	if v := testutil.ToFloat64(f.h.m.requests.WithLabelValues("events", "too_large")); v != 1 {
		t.Fatalf("too_large counter = %v", v)
	}
}

func TestBearerToken(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Token = "s3cret" })
	for _, hdr := range [][]string{nil, {"Authorization", "Bearer wrong"}, {"Authorization", "s3cret"}, {"Authorization", "Basic czNjcmV0"}} {
		code, _, h := f.post(PathEvents, event.ContentType, ce("x1", "rpc.timeout"), hdr...)
		if code != http.StatusUnauthorized || !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
			t.Fatalf("auth %v: %d", hdr, code)
		}
	}
	if code, _, _ := f.post(PathAlertmanager, "application/json", "{}"); code != http.StatusUnauthorized {
		t.Fatalf("alertmanager without token: %d", code)
	}
	if code, _, _ := f.post(PathEvents, event.ContentType, ce("x1", "rpc.timeout"), "Authorization", "Bearer s3cret"); code != http.StatusAccepted {
		t.Fatalf("right token: %d", code)
	}
	if n := len(f.stored()); n != 1 {
		t.Fatalf("stored %d, want 1", n)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Rate = 0.001; o.MaxBatch = 2; o.Burst = 3 })
	now := time.Date(2020, 6, 14, 13, 0, 0, 0, time.UTC)
	f.h.now = func() time.Time { return now }
	if code, _, _ := f.post(PathEvents, BatchContentType, batch(ce("1", "a.b"), ce("2", "a.b"))); code != http.StatusAccepted {
		t.Fatalf("first batch: %d", code)
	}
	code, resp, h := f.post(PathEvents, BatchContentType, batch(ce("3", "a.b"), ce("4", "a.b")))
	if code != http.StatusTooManyRequests || h.Get("Retry-After") == "" {
		t.Fatalf("over the rate: %d %+v retry-after %q", code, resp, h.Get("Retry-After"))
	}
	// The refused request took no tokens: one event still fits.
	if code, _, _ := f.post(PathEvents, event.ContentType, ce("5", "a.b")); code != http.StatusAccepted {
		t.Fatalf("within the rate: %d", code)
	}
	if n := len(f.stored()); n != 3 {
		t.Fatalf("stored %d, want 3", n)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		mention string
	}{
		{"no js", Options{}, "no JetStream"},
		{"batch too big", Options{MaxBatch: 5000}, "max batch 5000"},
		{"burst below batch", Options{Rate: 10, Burst: 2}, "burst 2"},
		{"token with space", Options{Token: "a b"}, "whitespace"},
		{"tiny body", Options{MaxBytes: 10}, "max bytes 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("err = %v, want mention of %q", err, tt.mention)
			}
		})
	}
}

// TestStreamRejectsBatchMidway fills EVENTS so the server can store only
// part of a batch: the atomic batch stores none of it and the client is told
// to retry.
func TestStreamRejectsBatchMidway(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	if code, _, _ := f.post(PathEvents, event.ContentType, ce("first", "a.b")); code != http.StatusAccepted {
		t.Fatal(code)
	}
	st, err := f.conn.JS.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.MaxMsgs, cfg.Discard = 3, jetstream.DiscardNew
	if _, err := f.conn.JS.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	code, resp, h := f.post(PathEvents, BatchContentType, batch(ce("b1", "a.b"), ce("b2", "a.b"), ce("b3", "a.b")))
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("batch over the stream limit: %d %+v", code, resp)
	}
	if msgs := f.stored(); len(msgs) != 1 {
		t.Fatalf("stream holds %d messages: part of the batch was stored", len(msgs))
	}
}

// TestNATSDown stops JetStream: requests get 503 with Retry-After and nothing
// is stored; after a restart the client's retry stores the batch once.
func TestNATSDown(t *testing.T) {
	dir := t.TempDir()
	s := bustest.ServerIn(t, dir)
	f := newFixtureOn(t, s, func(o *Options) { o.PublishTimeout = 300 * time.Millisecond })
	port := s.Addr().(*net.TCPAddr).Port
	s.Shutdown()
	s.WaitForShutdown()

	b := batch(ce("d1", "rpc.timeout"), ce("d2", "rpc.timeout"))
	code, resp, h := f.post(PathEvents, BatchContentType, b)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") != "1" || !strings.Contains(resp.Error, "retry") {
		t.Fatalf("NATS down: %d %+v", code, resp)
	}
	if code, _, _ := f.post(PathEvents, event.ContentType, ce("d3", "rpc.timeout")); code != http.StatusServiceUnavailable {
		t.Fatalf("single event with NATS down: %d", code)
	}
	if v := testutil.ToFloat64(f.h.m.requests.WithLabelValues("events", "unavailable")); v != 2 {
		t.Fatalf("unavailable counter = %v", v)
	}

	// Same store, same port, so the client reconnects.
	s2, err := embedded.Start(bus.EmbeddedOptions{StateDir: dir, Port: port}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s2.Shutdown(); s2.WaitForShutdown() })
	bustest.Eventually(t, "reconnect", f.conn.NC.IsConnected)
	// Nothing of the failed batch is in the stream as a fragment: it is either
	// absent or (flushed from the client's reconnect buffer) complete.
	var ids []string
	for _, m := range f.stored() {
		ids = append(ids, m.Header.Get(jetstream.MsgIDHeader))
	}
	if strings.Join(ids, ",") == "d1" || strings.Join(ids, ",") == "d2" {
		t.Fatalf("half a batch stored: %v", ids)
	}
	bustest.Eventually(t, "retry stored", func() bool {
		code, _, _ := f.post(PathEvents, BatchContentType, b)
		return code == http.StatusAccepted
	})
	ids = ids[:0]
	for _, m := range f.stored() {
		if id := m.Header.Get(jetstream.MsgIDHeader); id != "d3" {
			ids = append(ids, id)
		}
	}
	if strings.Join(ids, ",") != "d1,d2" {
		t.Fatalf("after retry stored %v, want d1,d2 once", ids)
	}
}

func TestAlertmanagerDocSample(t *testing.T) {
	f := newFixture(t, nil)
	body, err := os.ReadFile("testdata/alertmanager-v4.json")
	if err != nil {
		t.Fatal(err)
	}
	for try := range 2 { // Alertmanager retries; the second delivery is stored once
		code, resp, _ := f.post(PathAlertmanager, "application/json", string(body))
		if code != http.StatusAccepted || resp.Stored != 2 {
			t.Fatalf("try %d: %d %+v", try, code, resp)
		}
	}
	msgs := f.stored()
	if len(msgs) != 2 {
		t.Fatalf("stored %d, want 2", len(msgs))
	}
	type want struct {
		subject, status, node string
		time                  time.Time
	}
	wants := []want{
		{"events.prod.172_21_128_138.app", "firing", "172.21.128.138", time.Date(2020, 6, 14, 13, 15, 50, 123e6, time.UTC)},
		{"events.prod.central.app", "resolved", "central", time.Date(2020, 6, 14, 13, 25, 0, 0, time.UTC)},
	}
	for i, m := range msgs {
		ev, err := event.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		var d event.AlertmanagerAlert
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		w := wants[i]
		if m.Subject != w.subject || ev.Type != event.TypeAlertmanagerAlert || d.Status != w.status || ev.Node != w.node ||
			!ev.Time.Equal(w.time) || ev.Source != "http://alertmanager.monitoring:9093" || d.Receiver != "aftershock" ||
			m.Header.Get(jetstream.MsgIDHeader) != ev.ID {
			t.Errorf("alert %d: subject %s event %+v data %+v", i, m.Subject, ev, d)
		}
		if i == 0 && (!d.EndsAt.IsZero() || d.Labels["service"] != "order" || d.Annotations["description"] == "") {
			t.Errorf("firing alert data %+v", d)
		}
	}
	// A later status change of the same alert is a new event.
	resolved := strings.Replace(string(body), `"status": "firing",
      "labels": {"alertname": "RPCErrorRateHigh", "severity": "critical", "cluster": "prod", "service": "order"`, `"status": "resolved",
      "labels": {"alertname": "RPCErrorRateHigh", "severity": "critical", "cluster": "prod", "service": "order"`, 1)
	if resolved == string(body) {
		t.Fatal("test payload edit did not apply")
	}
	if code, _, _ := f.post(PathAlertmanager, "application/json", resolved); code != http.StatusAccepted {
		t.Fatal(code)
	}
	if n := len(f.stored()); n != 3 {
		t.Fatalf("stored %d after the resolve, want 3", n)
	}
}

func TestAlertmanagerInvalid(t *testing.T) {
	f := newFixture(t, nil)
	alert := `{"status":"firing","labels":{"alertname":"X"},"startsAt":"2020-06-14T13:15:50Z"}`
	tests := []struct {
		name, body, mention string
		index               int
	}{
		{"not json", `{`, "unexpected EOF", -1},
		{"version 3", `{"version":"3","alerts":[` + alert + `]}`, `version "3"`, -1},
		{"no alerts", `{"version":"4","alerts":[]}`, "no alerts", -1},
		{"bad status", `{"version":"4","alerts":[` + alert + `,{"status":"pending","labels":{"a":"b"},"startsAt":"2020-06-14T13:15:50Z"}]}`, `status "pending"`, 1},
		{"no labels", `{"version":"4","alerts":[{"status":"firing","startsAt":"2020-06-14T13:15:50Z"}]}`, "no labels", 0},
		{"no startsAt", `{"version":"4","alerts":[{"status":"firing","labels":{"a":"b"}}]}`, "startsAt", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, resp, _ := f.post(PathAlertmanager, "application/json", tt.body)
			text := resp.Error
			if len(resp.Problems) > 0 {
				text = resp.Problems[0].Reason
				if resp.Problems[0].Index != tt.index {
					t.Errorf("problem index %d, want %d", resp.Problems[0].Index, tt.index)
				}
			}
			if code != http.StatusBadRequest || !strings.Contains(text, tt.mention) {
				t.Fatalf("got %d %+v, want 400 mentioning %q", code, resp, tt.mention)
			}
		})
	}
	if n := len(f.stored()); n != 0 {
		t.Fatalf("stored %d", n)
	}
}

func TestAlertIDDeterministic(t *testing.T) {
	t0 := time.Date(2020, 6, 14, 13, 15, 50, 0, time.UTC)
	a := alertID("fp", "firing", t0)
	if a != alertID("fp", "firing", t0.In(time.FixedZone("CST", 8*3600))) {
		t.Fatal("same alert in another zone got another id")
	}
	for _, other := range []string{alertID("fp", "resolved", t0), alertID("fp2", "firing", t0), alertID("fp", "firing", t0.Add(time.Second))} {
		if other == a {
			t.Fatalf("different alerts share id %s", a)
		}
	}
	if labelsFingerprint(map[string]string{"a": "b", "c": "d"}) != labelsFingerprint(map[string]string{"c": "d", "a": "b"}) ||
		labelsFingerprint(map[string]string{"a": "bc"}) == labelsFingerprint(map[string]string{"ab": "c"}) {
		t.Fatal("labels fingerprint not stable or collides")
	}
}

package amapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/amapi"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/route"
	"github.com/aftershock/aftershock/internal/silence"
	"github.com/aftershock/aftershock/internal/version"
	"github.com/aftershock/aftershock/internal/webauth"
)

const routingYAML = `route:
  receiver: console
  group_by: [rule, cluster]
  routes:
    - matchers: [severity=critical]
      receiver: pager
      group_wait: 0s
receivers:
  - name: console
    console: {}
  - name: pager
    webhook: {url: {env: PAGER_URL}}
inhibit_rules:
  - source_matchers: [rule=node-crash]
    target_matchers: ['type=~"dns\\.timeout|rpc\\.timeout"']
    equal: [cluster]
`

// fixture is the API over a real JetStream: alerts written to
// ALERT_STATE by the notifier's own store, silences in SILENCES.
type fixture struct {
	url      string
	silences jetstream.KeyValue
	js       jetstream.JetStream
	store    *dispatch.KVStore
	view     *dispatch.StateView
}

var t0 = time.Now().UTC().Truncate(time.Second)

func crash() *alert.Alert {
	return &alert.Alert{ID: "crash-1", Fingerprint: "fpcrash", Rule: "node-crash", Severity: "critical", State: alert.Firing,
		Labels: map[string]string{"cluster": "prod", "node": "n29"}, Summary: "n29 crashed: kernel BUG", Headline: "Node n29 crashed",
		StartsAt: t0.Add(-2 * time.Minute), Since: t0.Add(-5 * time.Minute), CreatedAt: t0}
}

func timeouts() *alert.Alert {
	return &alert.Alert{ID: "dns-1", Fingerprint: "fpdns", Rule: "dns-timeouts", Severity: "warning", State: alert.Firing,
		Labels: map[string]string{"cluster": "prod", "type": "dns.timeout"}, Summary: "DNS timeouts on 10 nodes", StartsAt: t0.Add(-time.Minute), CreatedAt: t0}
}

func drill() *alert.Alert {
	a := crash()
	a.ID, a.Fingerprint, a.Drill = "crash-drill", "fpdrill", true
	return a
}

func resolved() *alert.Alert {
	return &alert.Alert{ID: "old-r", Fingerprint: "fpold", Rule: "node-down", Severity: "critical", State: alert.Resolved,
		Labels: map[string]string{"cluster": "prod", "node": "n3"}, StartsAt: t0.Add(-time.Hour), EndsAt: t0, CreatedAt: t0}
}

func newFixture(t *testing.T, auth webauth.Options, alerts ...*alert.Alert) *fixture {
	t.Helper()
	conn := bustest.Connect(t, bustest.Server(t))
	ctx := context.Background()
	store, err := dispatch.NewKVStore(ctx, conn.JS, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(store.Close)
	stateKV, err := conn.JS.KeyValue(ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	silKV, err := conn.JS.KeyValue(ctx, bus.BucketSilence)
	if err != nil {
		t.Fatal(err)
	}
	view, err := dispatch.WatchState(t.Context(), stateKV, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{silences: silKV, js: conn.JS, store: store, view: view}
	for _, a := range alerts {
		f.put(t, a)
	}
	routing, probs := route.Parse("routing.yaml", []byte(routingYAML))
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	api, err := amapi.New(amapi.Options{State: view, Silences: silKV, JS: conn.JS, Routing: routing, RoutingText: routingYAML,
		ExternalURL: "https://aftershock.example.com/", Auth: auth, Name: "r1", Version: version.Get(), Log: bustest.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	api.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	bustest.Eventually(t, "alerts in the view", func() bool { return len(view.Alerts()) == len(alerts) })
	return f
}

func (f *fixture) put(t *testing.T, a *alert.Alert) {
	t.Helper()
	if err := f.store.PutAlert(&dispatch.AlertRecord{Alert: a, Updated: t0}).Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// do sends a request and decodes a JSON answer into out (when not nil).
func (f *fixture) do(t *testing.T, method, path, token, body string, out any) int {
	t.Helper()
	req, err := http.NewRequest(method, f.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v\n%s", method, path, err, b)
		}
	}
	if resp.StatusCode != http.StatusOK {
		t.Logf("%s %s: %d %s", method, path, resp.StatusCode, b)
	}
	return resp.StatusCode
}

type apiAlert struct {
	Fingerprint  string            `json:"fingerprint"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Receivers    []struct{ Name string }
	Status       struct {
		State       string   `json:"state"`
		SilencedBy  []string `json:"silencedBy"`
		InhibitedBy []string `json:"inhibitedBy"`
		MutedBy     []string `json:"mutedBy"`
	} `json:"status"`
}

func fps(as []apiAlert) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.Fingerprint)
	}
	slices.Sort(out)
	return out
}

// TestAlerts: firing alerts in Alertmanager's shape, with alertname, the
// texts as annotations, receivers by the routing tree, inhibition by the
// routing file's rules, drills marked and routed apart, resolved ones
// left out; the query parameters filter as Alertmanager's do.
func TestAlerts(t *testing.T) {
	f := newFixture(t, webauth.Options{}, crash(), timeouts(), drill(), resolved())
	var all []apiAlert
	if code := f.do(t, "GET", "/api/v2/alerts", "", "", &all); code != 200 {
		t.Fatalf("status %d", code)
	}
	if got := fps(all); !slices.Equal(got, []string{"fpcrash", "fpdns", "fpdrill"}) {
		t.Fatalf("alerts %v", got)
	}
	byFP := map[string]apiAlert{}
	for _, a := range all {
		byFP[a.Fingerprint] = a
	}
	c := byFP["fpcrash"]
	if c.Labels["alertname"] != "node-crash" || c.Labels["node"] != "n29" || c.Labels["severity"] != "critical" ||
		c.Annotations["summary"] != "n29 crashed: kernel BUG" || c.Annotations["title"] != "Node n29 crashed" ||
		!c.StartsAt.Equal(t0.Add(-5*time.Minute)) || !c.EndsAt.Equal(t0.Add(route.DefaultResolveTimeout)) ||
		c.GeneratorURL != "https://aftershock.example.com/alerts/fpcrash" || c.Status.State != "active" ||
		len(c.Receivers) != 1 || c.Receivers[0].Name != "pager" {
		t.Errorf("crash alert: %+v", c)
	}
	d := byFP["fpdns"]
	if d.Status.State != "suppressed" || !slices.Equal(d.Status.InhibitedBy, []string{"fpcrash"}) || d.Status.SilencedBy == nil || d.Status.MutedBy == nil {
		t.Errorf("timeouts not inhibited by the crash: %+v", d.Status)
	}
	dr := byFP["fpdrill"]
	if dr.Annotations["drill"] != "true" || len(dr.Receivers) != 1 || dr.Receivers[0].Name != "console" {
		t.Errorf("drill: receivers %v annotations %v (the pager takes no drills)", dr.Receivers, dr.Annotations)
	}

	for _, tc := range []struct {
		query string
		want  []string
	}{
		{"filter=alertname%3Dnode-crash", []string{"fpcrash", "fpdrill"}},
		{"filter=" + url.QueryEscape(`alertname="node-crash"`) + "&filter=" + url.QueryEscape(`node=~"n2."`), []string{"fpcrash", "fpdrill"}},
		{"filter=" + url.QueryEscape(`{cluster!="prod"}`), nil},
		{"inhibited=false", []string{"fpcrash", "fpdrill"}},
		{"active=false", []string{"fpdns"}},
		{"receiver=pag.*", []string{"fpcrash"}},
		{"receiver=pag", nil},
	} {
		t.Run(tc.query, func(t *testing.T) {
			var got []apiAlert
			if code := f.do(t, "GET", "/api/v2/alerts?"+tc.query, "", "", &got); code != 200 {
				t.Fatalf("status %d", code)
			}
			if g := fps(got); !slices.Equal(g, tc.want) {
				t.Errorf("got %v, want %v", g, tc.want)
			}
		})
	}
	for _, bad := range []string{"filter=node~n1", "active=maybe", "receiver=(", "filter=" + url.QueryEscape(`node=~"("`)} {
		if code := f.do(t, "GET", "/api/v2/alerts?"+bad, "", "", nil); code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", bad, code)
		}
	}
}

// TestGroups: one group per route, receiver and group labels, drills in
// their own group, and muted=false leaves out groups with every alert
// muted.
func TestGroups(t *testing.T) {
	f := newFixture(t, webauth.Options{}, crash(), timeouts(), drill())
	type group struct {
		Labels   map[string]string `json:"labels"`
		Receiver struct{ Name string }
		Alerts   []apiAlert `json:"alerts"`
	}
	var gs []group
	if code := f.do(t, "GET", "/api/v2/alerts/groups", "", "", &gs); code != 200 {
		t.Fatalf("status %d", code)
	}
	var desc []string
	for _, g := range gs {
		desc = append(desc, g.Receiver.Name+":"+g.Labels["rule"]+":"+strings.Join(fps(g.Alerts), ","))
	}
	want := []string{"console:dns-timeouts:fpdns", "console:node-crash:fpdrill", "pager:node-crash:fpcrash"}
	if !slices.Equal(desc, want) {
		t.Errorf("groups %v, want %v", desc, want)
	}
	gs = nil
	f.do(t, "GET", "/api/v2/alerts/groups?muted=false", "", "", &gs)
	if len(gs) != 2 {
		t.Errorf("muted=false kept %d groups, want 2 (the inhibited timeouts' group left out)", len(gs))
	}
}

// TestStatusAndReceivers: the shapes Grafana and karma read first.
func TestStatusAndReceivers(t *testing.T) {
	f := newFixture(t, webauth.Options{})
	var st struct {
		Cluster     struct{ Status string }
		VersionInfo map[string]string `json:"versionInfo"`
		Config      struct{ Original string }
		Uptime      time.Time
	}
	if code := f.do(t, "GET", "/api/v2/status", "", "", &st); code != 200 {
		t.Fatal(code)
	}
	if st.Cluster.Status != "disabled" || st.Config.Original != routingYAML || st.Uptime.IsZero() || st.VersionInfo["goVersion"] == "" {
		t.Errorf("status %+v", st)
	}
	for _, k := range []string{"version", "revision", "branch", "buildUser", "buildDate", "goVersion"} {
		if _, ok := st.VersionInfo[k]; !ok {
			t.Errorf("versionInfo lacks required %s", k)
		}
	}
	var rs []struct{ Name string }
	f.do(t, "GET", "/api/v2/receivers", "", "", &rs)
	if len(rs) != 2 || rs[0].Name != "console" || rs[1].Name != "pager" {
		t.Errorf("receivers %+v", rs)
	}
	if code := f.do(t, "POST", "/api/v2/alerts", "", "[]", nil); code != http.StatusNotImplemented {
		t.Errorf("POST alerts: %d", code)
	}
}

type apiSilence struct {
	ID       string
	Status   struct{ State string }
	Matchers []struct {
		Name    string
		Value   string
		IsRegex bool
		IsEqual bool
	}
	CreatedBy, Comment string
	StartsAt, EndsAt   time.Time
}

func silenceJSON(matchers string, ends time.Time) string {
	return `{"matchers":` + matchers + `,"startsAt":"` + t0.Add(-time.Hour).Format(time.RFC3339) +
		`","endsAt":"` + ends.Format(time.RFC3339) + `","createdBy":"alice","comment":"kernel upgrade"}`
}

// TestSilences: created, read, filtered, updated and expired through the
// API, stored as `router silence` stores them (alertname as rule), and
// silencing the alerts they match.
func TestSilences(t *testing.T) {
	const token = "s3cret"
	f := newFixture(t, webauth.Options{Token: token}, crash(), timeouts())
	end := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	body := silenceJSON(`[{"name":"alertname","value":"node-crash","isRegex":false},{"name":"node","value":"n2.","isRegex":true,"isEqual":true}]`, end)
	var created struct{ SilenceID string }
	if code := f.do(t, "POST", "/api/v2/silences", token, body, &created); code != 200 || created.SilenceID == "" {
		t.Fatalf("create: %d %+v", code, created)
	}
	stored, _, err := silence.List(context.Background(), f.js, bus.BucketSilence)
	if err != nil || len(stored) != 1 || !slices.Equal(stored[0].Matchers, []string{`rule="node-crash"`, `node=~"n2."`}) ||
		stored[0].CreatedBy != "alice" || !stored[0].EndsAt.Equal(end) || stored[0].StartsAt.Before(t0) {
		t.Fatalf("stored %v %+v", err, stored[0])
	}

	var s apiSilence
	if code := f.do(t, "GET", "/api/v2/silence/"+created.SilenceID, "", "", &s); code != 200 || s.Status.State != "active" ||
		len(s.Matchers) != 2 || s.Matchers[0].Name != "rule" || !s.Matchers[1].IsRegex || !s.Matchers[1].IsEqual {
		t.Fatalf("get: %+v", s)
	}
	var alerts []apiAlert
	f.do(t, "GET", "/api/v2/alerts?filter=alertname%3Dnode-crash", "", "", &alerts)
	if len(alerts) != 1 || !slices.Equal(alerts[0].Status.SilencedBy, []string{created.SilenceID}) || alerts[0].Status.State != "suppressed" {
		t.Errorf("crash alert not silenced: %+v", alerts)
	}
	for _, tc := range []struct {
		filter string
		n      int
	}{{`alertname="node-crash"`, 1}, {`node=~"n2."`, 1}, {`node="n29"`, 0}} {
		var ss []apiSilence
		f.do(t, "GET", "/api/v2/silences?filter="+url.QueryEscape(tc.filter), "", "", &ss)
		if len(ss) != tc.n {
			t.Errorf("filter %s: %d silences, want %d", tc.filter, len(ss), tc.n)
		}
	}

	upd := `{"id":"` + created.SilenceID + `",` + strings.TrimPrefix(silenceJSON(`[{"name":"node","value":"n29","isRegex":false}]`, end), "{")
	var updated struct{ SilenceID string }
	if code := f.do(t, "POST", "/api/v2/silences", token, upd, &updated); code != 200 || updated.SilenceID != created.SilenceID {
		t.Fatalf("update: %d %+v", code, updated)
	}
	if code := f.do(t, "DELETE", "/api/v2/silence/"+created.SilenceID, token, "", nil); code != 200 {
		t.Fatalf("expire: %d", code)
	}
	var ss []apiSilence
	f.do(t, "GET", "/api/v2/silences?expired=false", "", "", &ss)
	if len(ss) != 0 {
		t.Errorf("expired silence listed with expired=false: %+v", ss)
	}
	f.do(t, "GET", "/api/v2/silences", "", "", &ss)
	if len(ss) != 1 || ss[0].Status.State != "expired" || ss[0].Matchers[0].Value != "n29" {
		t.Errorf("after expiry: %+v", ss)
	}
	// Updating an expired silence creates a new one, as Alertmanager does.
	if code := f.do(t, "POST", "/api/v2/silences", token, upd, &updated); code != 200 || updated.SilenceID == created.SilenceID {
		t.Errorf("update of an expired silence: %d %+v", code, updated)
	}
}

// TestSilenceBadInput: every refusal says why and stores nothing.
func TestSilenceBadInput(t *testing.T) {
	const token = "s3cret"
	f := newFixture(t, webauth.Options{Token: token})
	future := time.Now().Add(time.Hour)
	good := silenceJSON(`[{"name":"node","value":"n1","isRegex":false}]`, future)
	for _, tc := range []struct {
		name, method, path, token, body string
		code                            int
	}{
		{"no token", "POST", "/api/v2/silences", "", good, http.StatusUnauthorized},
		{"wrong token", "POST", "/api/v2/silences", "guess", good, http.StatusUnauthorized},
		{"expire without token", "DELETE", "/api/v2/silence/x", "", "", http.StatusUnauthorized},
		{"not json", "POST", "/api/v2/silences", token, `{"matchers":`, http.StatusBadRequest},
		{"no matchers", "POST", "/api/v2/silences", token, silenceJSON(`[]`, future), http.StatusBadRequest},
		{"bad regexp", "POST", "/api/v2/silences", token, silenceJSON(`[{"name":"node","value":"(","isRegex":true}]`, future), http.StatusBadRequest},
		{"bad label name", "POST", "/api/v2/silences", token, silenceJSON(`[{"name":"no de","value":"x","isRegex":false}]`, future), http.StatusBadRequest},
		{"ends in the past", "POST", "/api/v2/silences", token, silenceJSON(`[{"name":"node","value":"n1","isRegex":false}]`, time.Now().Add(-time.Minute)), http.StatusBadRequest},
		{"no comment", "POST", "/api/v2/silences", token, strings.Replace(good, `"kernel upgrade"`, `""`, 1), http.StatusBadRequest},
		{"annotations", "POST", "/api/v2/silences", token, strings.Replace(good, `"comment"`, `"annotations":{"ticket":"OPS-1"},"comment"`, 1), http.StatusBadRequest},
		{"no times", "POST", "/api/v2/silences", token, `{"matchers":[{"name":"a","value":"b","isRegex":false}],"createdBy":"a","comment":"c"}`, http.StatusBadRequest},
		{"update unknown id", "POST", "/api/v2/silences", token, `{"id":"nope",` + good[1:], http.StatusNotFound},
		{"get unknown id", "GET", "/api/v2/silence/nope", "", "", http.StatusNotFound},
		{"expire unknown id", "DELETE", "/api/v2/silence/nope", token, "", http.StatusNotFound},
		{"bad filter", "GET", "/api/v2/silences?filter=a~b", "", "", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code := f.do(t, tc.method, tc.path, tc.token, tc.body, nil); code != tc.code {
				t.Errorf("status %d, want %d", code, tc.code)
			}
		})
	}
	if ss, _, _ := silence.List(context.Background(), f.js, bus.BucketSilence); len(ss) != 0 {
		t.Errorf("refused requests stored %d silences", len(ss))
	}
}

// TestReadOnlyAndProxyUser: without a token the API only reads; behind an
// authenticating proxy the proxy's user writes and is the author.
func TestReadOnlyAndProxyUser(t *testing.T) {
	ro := newFixture(t, webauth.Options{})
	body := silenceJSON(`[{"name":"node","value":"n1","isRegex":false}]`, time.Now().Add(time.Hour))
	if code := ro.do(t, "POST", "/api/v2/silences", "anything", body, nil); code != http.StatusForbidden {
		t.Errorf("read-only router: POST status %d, want 403", code)
	}

	px := newFixture(t, webauth.Options{UserHeader: "X-Forwarded-User"})
	req, _ := http.NewRequest("POST", px.url+"/api/v2/silences", strings.NewReader(body))
	req.Header.Set("X-Forwarded-User", "bob@example.com")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("proxy user: status %d", resp.StatusCode)
	}
	ss, _, _ := silence.List(context.Background(), px.js, bus.BucketSilence)
	if len(ss) != 1 || ss[0].CreatedBy != "bob@example.com" {
		t.Errorf("author %+v, want the proxy's user", ss)
	}
	if code := px.do(t, "POST", "/api/v2/silences", "", body, nil); code != http.StatusUnauthorized {
		t.Errorf("no proxy user: status %d, want 401", code)
	}

	// A page on another site cannot make a logged-in browser write.
	req, _ = http.NewRequest("POST", px.url+"/api/v2/silences", strings.NewReader(body))
	req.Header.Set("X-Forwarded-User", "bob@example.com")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site POST: status %d, want 403", resp.StatusCode)
	}
}

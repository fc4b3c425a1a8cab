package webui_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/silence"
	"github.com/aftershock/aftershock/internal/webauth"
)

// TestAlertPage: the page of the late-reboot drill's crash alert says
// what an on-call engineer needs, server-rendered: the cause, a timeline
// of the evidence, the last kernel words, memory, kdump, the pods that
// died, the known bug, and what the console was told; the index lists it
// apart, as a drill.
func TestAlertPage(t *testing.T) {
	s := newStand(t, webauth.Options{Token: "t0k"})
	s.replay("late-reboot", "prod-gz", 0, "")
	fp := s.crashFingerprint("10.2.0.29")
	bustest.Eventually(t, "the console told of the crash", func() bool { return strings.Contains(s.console.String(), "10.2.0.29") })

	code, body := s.get("/alerts", false)
	if code != 200 || !strings.Contains(body, `<span class="badge drill">DRILL</span> prod-gz`) || !strings.Contains(body, `href="/ops/alerts/`+fp+`"`) ||
		!strings.Contains(body, "No live alerts.") {
		t.Fatalf("index %d:\n%s", code, body)
	}
	var page string
	bustest.Eventually(t, "the page shows the delivery", func() bool {
		code, page = s.get("/alerts/"+fp, false)
		return code == 200 && strings.Contains(page, "<td>console</td>")
	})
	for _, want := range []string{
		`<span class="badge drill">DRILL</span>`, "comes from a replayed drill",
		`<p class="summary" id="cause">node 10.2.0.29 crashed (kernel BUG at include/linux/fs.h:2582!), not memory exhaustion`,
		"<svg", "10.2.0.29 heartbeats", "10.2.0.29 kernel, reboot", `class="mark hb"`, `class="mark reboot"`, `class="mark dns"`, `class="mark rpc"`,
		"kernel died 03:10:04", "cause known 03:14:07", "began 03:09:50", "alert fired 03:11:04",
		`<p class="cause">kernel BUG at include/linux/fs.h:2582!</p>`,
		"12.6 GiB of 15.5 GiB available (81%), 14s before the crash (heartbeat)",
		"kdump was <b>not ready</b>", "no crashkernel= on the kernel command line",
		"coredns-5c98db65d4-q7wzt", "kernel BUG at /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h:2582!",
		`<a href="https://bugs.launchpad.net/ubuntu/+source/linux/+bug/1653498" rel="noreferrer">`,
		"2021-11-02 03:09:50 CST (Nov 1 19:09:50 UTC)", "No silence matches this alert.", `<a href="/ops/login">Log in</a> to silence it.`,
		"How it grew", "cause found",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("alert page lacks %q", want)
		}
	}
	if strings.Contains(page, "<script") {
		t.Error("the page has a script: it must work without JavaScript")
	}
	if code, body := s.get("/alerts/nosuchalert", false); code != http.StatusNotFound || !strings.Contains(body, "No alert nosuchalert") {
		t.Errorf("unknown alert: %d", code)
	}
	// amtool pointed at external_url finds the API under its path too.
	if code, body := s.get("/api/v2/alerts?filter=alertname%3Dnode-crash", false); code != 200 || !strings.Contains(body, fp) {
		t.Errorf("API under the external_url path: %d %s", code, body)
	}
	if code, body := s.get("/static/style.css", false); code != 200 || !strings.Contains(body, "svg .dns") {
		t.Errorf("style: %d", code)
	}
}

// TestSilencesFromThePages: with the token cookie a silence is created
// from an alert's page and expired from the silences page, as `router
// silence` records it; bad input is refused with the reason and stores
// nothing; without the token, from another site, or on a read-only
// router, nothing can be written.
func TestSilencesFromThePages(t *testing.T) {
	s := newStand(t, webauth.Options{Token: "t0k"})
	kv, err := s.r.Conn().JS.KeyValue(context.Background(), bus.BucketSilence)
	if err != nil {
		t.Fatal(err)
	}
	stored := func() []*silence.Silence {
		ss, _, err := silence.List(context.Background(), s.r.Conn().JS, kv.Bucket())
		if err != nil {
			t.Fatal(err)
		}
		return ss
	}
	form := url.Values{"matchers": {"rule=\"node-crash\"\nnode=\"10.2.0.29\""}, "duration": {"1h"}, "author": {"alice"},
		"comment": {"kernel upgrade"}, "back": {"/alerts/abc"}}

	for name, tc := range map[string]struct {
		cookie string
		header map[string]string
		code   int
	}{
		"no token":    {"", nil, http.StatusUnauthorized},
		"wrong token": {"guess", nil, http.StatusUnauthorized},
		"cross-site":  {"t0k", map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
	} {
		if resp := s.post("/silences", form, tc.cookie, tc.header); resp.StatusCode != tc.code {
			t.Errorf("%s: status %d, want %d", name, resp.StatusCode, tc.code)
		}
	}
	for name, bad := range map[string]url.Values{
		"bad duration": {"matchers": form["matchers"], "duration": {"soon"}, "comment": {"x"}, "author": {"a"}},
		"bad matcher":  {"matchers": {"node~n1"}, "duration": {"1h"}, "comment": {"x"}, "author": {"a"}},
		"no comment":   {"matchers": form["matchers"], "duration": {"1h"}, "author": {"a"}},
		"no matchers":  {"matchers": {" \n "}, "duration": {"1h"}, "comment": {"x"}, "author": {"a"}},
	} {
		resp := s.post("/silences", bad, "t0k", nil)
		if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "error=") {
			t.Errorf("%s: %d %s, want a redirect with the error", name, resp.StatusCode, loc)
		}
	}
	if n := len(stored()); n != 0 {
		t.Fatalf("refused forms stored %d silences", n)
	}

	resp := s.post("/silences", form, "t0k", nil)
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/ops/alerts/abc?done=") {
		t.Fatalf("create: %d %s", resp.StatusCode, loc)
	}
	ss := stored()
	if len(ss) != 1 || strings.Join(ss[0].Matchers, " ") != `rule="node-crash" node="10.2.0.29"` || ss[0].CreatedBy != "alice" ||
		ss[0].EndsAt.Sub(ss[0].StartsAt) != time.Hour {
		t.Fatalf("stored %+v", ss)
	}
	if out := s.routerCLI("silence", "list"); !strings.Contains(out, ss[0].ID) || !strings.Contains(out, "kernel upgrade") {
		t.Errorf("router silence list lacks the page's silence:\n%s", out)
	}
	_, page := s.get("/silences", true)
	if !strings.Contains(page, "Active (1)") || !strings.Contains(page, "/ops/silences/"+ss[0].ID+"/expire") || !strings.Contains(page, "writing as <b>token</b>") {
		t.Errorf("silences page:\n%s", page)
	}
	if _, anon := s.get("/silences", false); strings.Contains(anon, "/expire") || !strings.Contains(anon, "to create or expire silences") {
		t.Error("the silences page offers writes without the token")
	}
	resp = s.post("/silences/"+ss[0].ID+"/expire", url.Values{"back": {"/silences"}}, "t0k", nil)
	if resp.StatusCode != http.StatusSeeOther || stored()[0].StateAt(time.Now()) != silence.Expired {
		t.Errorf("expire: %d, state %s", resp.StatusCode, stored()[0].StateAt(time.Now()))
	}
	if resp := s.post("/silences/nope/expire", url.Values{}, "t0k", nil); !strings.Contains(resp.Header.Get("Location"), "error=") {
		t.Errorf("expire of an unknown id: %s", resp.Header.Get("Location"))
	}

	// Logging in sets the cookie only for the right token.
	if resp := s.post("/login", url.Values{"token": {"guess"}}, "", nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("login with a wrong token: %d", resp.StatusCode)
	}
	resp = s.post("/login", url.Values{"token": {"t0k"}}, "", nil)
	var c *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == webauth.CookieName {
			c = ck
		}
	}
	if resp.StatusCode != http.StatusSeeOther || c == nil || c.Value != "t0k" || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/ops" {
		t.Errorf("login: %d cookie %+v", resp.StatusCode, c)
	}

	ro := newStand(t, webauth.Options{})
	if resp := ro.post("/silences", form, "t0k", nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("read-only router: %d", resp.StatusCode)
	}
	if _, p := ro.get("/silences", false); !strings.Contains(p, "This router is read-only") {
		t.Error("read-only router does not say so")
	}
}

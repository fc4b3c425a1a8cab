package amapi_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bintest"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/silence"
	"github.com/aftershock/aftershock/internal/webauth"
)

// amtool runs the real amtool (Alertmanager v0.35.0, a tool in go.mod)
// against url, with the bearer token in its HTTP config file as an
// operator would set it.
type amtool struct {
	bin, url, home, httpConfig string
}

func newAmtool(t *testing.T, url, token string) *amtool {
	t.Helper()
	a := &amtool{bin: bintest.Build(t, AmtoolPackage), url: url, home: t.TempDir()}
	if token != "" {
		a.httpConfig = filepath.Join(a.home, "http.yml")
		if err := os.WriteFile(a.httpConfig, []byte("authorization:\n  type: Bearer\n  credentials: "+token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// AmtoolPackage is the amtool command pinned in go.mod.
const AmtoolPackage = "github.com/prometheus/alertmanager/cmd/amtool"

func (a *amtool) run(t *testing.T, args ...string) (string, error) {
	t.Helper()
	full := []string{"--alertmanager.url=" + a.url}
	if a.httpConfig != "" {
		full = append(full, "--http.config.file="+a.httpConfig)
	}
	cmd := exec.Command(a.bin, append(full, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+a.home) // no operator's amtool config
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (a *amtool) must(t *testing.T, args ...string) string {
	t.Helper()
	out, err := a.run(t, args...)
	if err != nil {
		t.Fatalf("amtool %v: %v\n%s", args, err, out)
	}
	return out
}

// TestAmtool: the real amtool lists the router's alerts and adds,
// queries and expires silences that the SILENCES bucket (and so
// `router silence list`) holds, and a silence made the router's way shows
// in amtool.
func TestAmtool(t *testing.T) {
	const token = "amtool-token"
	f := newFixture(t, webauth.Options{Token: token}, crash(), timeouts(), drill())
	am := newAmtool(t, f.url, token)

	out := am.must(t, "alert", "query")
	if !strings.Contains(out, "node-crash") || !strings.Contains(out, "n29 crashed: kernel BUG") {
		t.Errorf("alert query lacks the crash:\n%s", out)
	}
	if strings.Contains(out, "dns-timeouts") {
		t.Errorf("alert query (active only) lists the inhibited timeouts:\n%s", out)
	}
	if out := am.must(t, "alert", "query", "--inhibited"); !strings.Contains(out, "dns-timeouts") {
		t.Errorf("alert query --inhibited lacks the timeouts:\n%s", out)
	}
	if out := am.must(t, "-o", "json", "alert", "query", `node="n29"`); !strings.Contains(out, `"fingerprint":"fpcrash"`) {
		t.Errorf("json alert query by node:\n%s", out)
	}

	id := strings.TrimSpace(am.must(t, "silence", "add", "--comment", "kernel upgrade on n29", "--author", "alice", "--duration", "2h", "alertname=node-crash", `node="n29"`))
	if id == "" {
		t.Fatal("silence add printed no id")
	}
	ss, _, err := silence.List(context.Background(), f.js, bus.BucketSilence)
	if err != nil || len(ss) != 1 || ss[0].ID != id || strings.Join(ss[0].Matchers, " ") != `rule="node-crash" node="n29"` || ss[0].CreatedBy != "alice" {
		t.Fatalf("stored after amtool silence add: %v %+v", err, ss)
	}
	if out := am.must(t, "silence", "query", "-q"); strings.TrimSpace(out) != id {
		t.Errorf("silence query -q: %q, want %s", out, id)
	}
	if out := am.must(t, "alert", "query", "--silenced", "alertname=node-crash"); !strings.Contains(out, "n29 crashed") {
		t.Errorf("the silenced crash is not listed with --silenced:\n%s", out)
	}

	// A silence added the router's way shows in amtool.
	own := &silence.Silence{Matchers: []string{`cluster="prod"`, `type=~"rpc\\.timeout"`}, StartsAt: time.Now(), EndsAt: time.Now().Add(time.Hour),
		CreatedBy: "bob", Comment: "rpc noise during the migration"}
	if err := silence.Add(context.Background(), f.silences, own, time.Now()); err != nil {
		t.Fatal(err)
	}
	if out := am.must(t, "silence", "query"); !strings.Contains(out, own.ID) || !strings.Contains(out, "rpc noise during the migration") {
		t.Errorf("silence query lacks the router's silence:\n%s", out)
	}

	am.must(t, "silence", "expire", id)
	ss, _, _ = silence.List(context.Background(), f.js, bus.BucketSilence)
	for _, s := range ss {
		if s.ID == id && s.StateAt(time.Now()) != silence.Expired {
			t.Errorf("silence %s still %s after amtool silence expire", id, s.StateAt(time.Now()))
		}
	}
	if out := am.must(t, "silence", "query", "--expired", "-q"); !strings.Contains(out, id) {
		t.Errorf("silence query --expired lacks %s:\n%s", id, out)
	}

	// Without the token amtool is told why.
	anon := newAmtool(t, f.url, "")
	if out, err := anon.run(t, "silence", "add", "--comment", "x", "node=n1"); err == nil || !strings.Contains(out, "401") {
		t.Errorf("silence add without a token: %v\n%s", err, out)
	}
}

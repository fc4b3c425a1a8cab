package webui_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/bintest"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/router"
	"github.com/aftershock/aftershock/internal/webauth"
)

// stand is a router with the repository's rules on a real JetStream,
// its pages under external_url's path /ops, writable with a token, the
// console told of every alert at once (so what it does not print was
// muted); drills are replayed with the nats CLI as the runbook says.
type stand struct {
	tb      testing.TB
	r       *router.Router
	natsURL string
	base    string // http://host:port/ops
	token   string
	console *bustest.Buffer
}

const standRouting = `time_zone: Asia/Shanghai
external_url: https://aftershock.example.com/ops
route:
  receiver: console
  group_by: ["..."]
  group_wait: 0s
  group_interval: 1s
receivers:
  - name: console
    console: {}
`

func newStand(tb testing.TB, auth webauth.Options) *stand {
	tb.Helper()
	dir := tb.TempDir()
	files, err := filepath.Glob("../../rules/*.yaml")
	if err != nil || len(files) == 0 {
		tb.Fatalf("rules: %v", err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.yaml") || filepath.Base(f) == "routing.yaml" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), b, 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "routing.yaml"), []byte(standRouting), 0o644); err != nil {
		tb.Fatal(err)
	}
	s := &stand{tb: tb, token: auth.Token, console: &bustest.Buffer{}}
	srv := bustest.Server(tb)
	s.natsURL = srv.ClientURL()
	s.r, err = router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: s.natsURL}, RulesDir: dir, HTTPAddr: "127.0.0.1:0", Console: s.console,
		StateDir: tb.TempDir(), Web: auth,
	}, bustest.Logger(tb))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(s.r.Close)
	s.base = "http://" + s.r.HTTPAddr() + "/ops"
	return s
}

// replay publishes the drill's lines whose event time is before until
// (all when empty), from line from on; it returns the next line.
func (s *stand) replay(drill, cluster string, from int, until string) int {
	s.tb.Helper()
	b, err := os.ReadFile(filepath.Join("../../deploy/drills", drill, "events.ndjson"))
	if err != nil {
		s.tb.Fatal(err)
	}
	lines := bytes.SplitAfter(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	var part []byte
	i := from
	for ; i < len(lines) && (until == "" || eventTime(lines[i]) < until); i++ {
		part = append(part, lines[i]...)
	}
	cmd := exec.Command(bustest.NATSCLI(s.tb), "--server", s.natsURL, "pub", "drill.events."+cluster+".replay.app",
		"--send-on", "newline", "--no-templates", "--jetstream", "--quiet")
	cmd.Stdin = bytes.NewReader(part)
	if out, err := cmd.CombinedOutput(); err != nil {
		s.tb.Fatalf("nats pub: %v\n%s", err, out)
	}
	return i
}

func eventTime(line []byte) string {
	_, after, _ := bytes.Cut(line, []byte(`"time":"`))
	t, _, _ := bytes.Cut(after, []byte(`"`))
	return string(t)
}

// apiAlerts reads the router's /api/v2/alerts with query.
func (s *stand) apiAlerts(query string) []map[string]any {
	s.tb.Helper()
	resp, err := http.Get("http://" + s.r.HTTPAddr() + "/api/v2/alerts?" + query)
	if err != nil {
		s.tb.Fatal(err)
	}
	defer resp.Body.Close()
	var out []map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		s.tb.Fatal(err)
	}
	return out
}

// crashPage waits for the drill's node-crash alert to carry its cause and
// returns its fingerprint.
func (s *stand) crashFingerprint(node string) string {
	s.tb.Helper()
	var fp string
	bustest.Eventually(s.tb, "node-crash with its cause in the API", func() bool {
		for _, a := range s.apiAlerts("filter=alertname%3Dnode-crash&filter=" + url.QueryEscape(`node="`+node+`"`)) {
			ann, _ := a["annotations"].(map[string]any)
			if sum, _ := ann["summary"].(string); strings.Contains(sum, "kernel BUG") {
				fp, _ = a["fingerprint"].(string)
			}
		}
		return fp != ""
	})
	return fp
}

// get fetches a page (with the token cookie when asked).
func (s *stand) get(path string, withToken bool) (int, string) {
	s.tb.Helper()
	req, _ := http.NewRequest("GET", s.base+path, nil)
	if withToken {
		req.AddCookie(&http.Cookie{Name: webauth.CookieName, Value: s.token})
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// post sends a form without following the redirect.
func (s *stand) post(path string, form url.Values, cookie string, header map[string]string) *http.Response {
	s.tb.Helper()
	req, _ := http.NewRequest("POST", s.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if cookie != "" {
		req.AddCookie(&http.Cookie{Name: webauth.CookieName, Value: cookie})
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		s.tb.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

func (s *stand) amtool(args ...string) string {
	s.tb.Helper()
	home := s.tb.TempDir()
	cfg := filepath.Join(home, "http.yml")
	if err := os.WriteFile(cfg, []byte("authorization:\n  credentials: "+s.token+"\n"), 0o600); err != nil {
		s.tb.Fatal(err)
	}
	cmd := exec.Command(bintest.Build(s.tb, "github.com/prometheus/alertmanager/cmd/amtool"),
		append([]string{"--alertmanager.url=http://" + s.r.HTTPAddr(), "--http.config.file=" + cfg}, args...)...)
	cmd.Env = append(os.Environ(), "HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		s.tb.Fatalf("amtool %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// routerCLI runs the real router binary's subcommands against the NATS.
func (s *stand) routerCLI(args ...string) string {
	s.tb.Helper()
	out, err := exec.Command(bintest.Build(s.tb, "./router"), append(args, "--nats", s.natsURL)...).CombinedOutput()
	if err != nil {
		s.tb.Fatalf("router %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func metrics(tb testing.TB, r *router.Router) string {
	tb.Helper()
	resp, err := http.Get("http://" + r.HTTPAddr() + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

package router_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/router"
)

// TestPprofBehindAFlag: /debug/pprof/ is served on the ops port only with
// Options.Pprof; without it the path is not found.
func TestPprofBehindAFlag(t *testing.T) {
	s := bustest.Server(t)
	for _, on := range []bool{false, true} {
		r, err := router.Start(context.Background(), router.Options{
			NATS: bus.Options{URL: s.ClientURL()}, RulesDir: rulesDir(t), HTTPAddr: "127.0.0.1:0",
			Console: &bustest.Buffer{}, StateDir: t.TempDir(), NoRulesWatch: true, Pprof: on,
		}, bustest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/goroutine?debug=1", "/debug/pprof/heap"} {
			resp, err := http.Get("http://" + r.HTTPAddr() + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case on && resp.StatusCode != http.StatusOK:
				t.Errorf("pprof on: %s answered %d", path, resp.StatusCode)
			case on && path == "/debug/pprof/goroutine?debug=1" && !strings.Contains(string(b), "goroutine profile"):
				t.Errorf("pprof on: %s is not a goroutine profile:\n%.200s", path, b)
			case !on && resp.StatusCode != http.StatusNotFound:
				t.Errorf("pprof off: %s answered %d, want 404", path, resp.StatusCode)
			}
		}
		r.Close()
	}
}

package childproc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/childproc"
)

func TestStopKillAndLog(t *testing.T) {
	dir := t.TempDir()
	// A child that ignores SIGTERM must be killed after the grace.
	p, err := childproc.Start(dir, "stubborn", "sh", nil, "-c", `trap "" TERM; echo started; while :; do sleep 0.05; done`)
	if err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(p.LogTail(100), "started") {
		time.Sleep(10 * time.Millisecond)
	}
	if p.Exited() {
		t.Fatal("exited before it was stopped")
	}
	p.Stop(100 * time.Millisecond)
	if !p.Exited() {
		t.Fatal("still running after Stop")
	}
}

func TestWaitReady(t *testing.T) {
	dir := t.TempDir()
	ready := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer ready.Close()
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }))
	defer notReady.Close()
	tests := []struct {
		name, url, script, wantErr string
	}{
		{"answers 200", ready.URL, "sleep 30", ""},
		{"exits first, its output in the error", notReady.URL, "echo config is bad; exit 2", "config is bad"},
		{"never ready", notReady.URL, "sleep 30", "not ready"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := childproc.Start(dir, strings.ReplaceAll(tt.name, " ", "-"), "sh", nil, "-c", tt.script)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Kill()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err = childproc.WaitReady(ctx, tt.url, p)
			if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("err %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestScrape(t *testing.T) {
	page := `# HELP aftershock_collector_events_total x
# TYPE aftershock_collector_events_total counter
aftershock_collector_events_total{outcome="published",source="kmsg"} 3
aftershock_collector_events_total{outcome="published",source="heartbeat"} 184
aftershock_collector_events_total{outcome="dropped",source="heartbeat"} 7
aftershock_collector_events_total_other 1000
aftershock_spool_events 0
`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(page)) }))
	defer srv.Close()
	for _, tt := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"aftershock_collector_events_total", []string{`outcome="published"`}, 187},
		{"aftershock_collector_events_total", nil, 194},
		{"aftershock_spool_events", nil, 0},
		{"aftershock_missing", nil, 0},
	} {
		got, err := childproc.Scrape(srv.URL, tt.name, tt.labels...)
		if err != nil || got != tt.want {
			t.Errorf("Scrape(%s, %v) = %v, %v; want %v", tt.name, tt.labels, got, err, tt.want)
		}
	}
}

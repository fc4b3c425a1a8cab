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

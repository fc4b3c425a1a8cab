package router_test

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/ingest"
	"github.com/aftershock/aftershock/internal/router"
)

// TestIngestBeyondLoopbackNeedsToken (issue #16): ingest on an address
// others reach, without a token, is refused at start.
func TestIngestBeyondLoopbackNeedsToken(t *testing.T) {
	_, err := router.Start(context.Background(), router.Options{
		NATS: bus.Options{URL: "nats://127.0.0.1:1"}, RulesDir: rulesDir(t), HTTPAddr: "0.0.0.0:0",
		StateDir: t.TempDir(), Ingest: true,
	}, bustest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "needs a bearer token") {
		t.Fatalf("err = %v", err)
	}
}

// TestIngestOnRouter posts an event to the router's HTTP ingest and sees the
// alert its rule raises: the central path apps and Alertmanager can use.
func TestIngestOnRouter(t *testing.T) {
	s := bustest.Server(t)
	console := &bustest.Buffer{}
	r, err := router.Start(context.Background(), router.Options{
		NATS:          bus.Options{URL: s.ClientURL()},
		RulesDir:      rulesDir(t),
		HTTPAddr:      "127.0.0.1:0",
		Console:       console,
		StateDir:      t.TempDir(),
		Ingest:        true,
		IngestOptions: ingest.Options{Token: "tok"},
	}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	post := func(token string) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+r.HTTPAddr()+ingest.PathEvents,
			bytes.NewReader(testEvent("01JINGEST00000000000000000", "node-7", "via ingest", time.Now())))
		req.Header.Set("Content-Type", event.ContentType)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("wrong"); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code := post("tok"); code != http.StatusAccepted {
		t.Fatalf("post: %d", code)
	}
	bustest.Eventually(t, "alert on the console", func() bool {
		return strings.Contains(console.String(), "test event from node-7: via ingest")
	})
	resp, err := http.Get("http://" + r.HTTPAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	if !strings.Contains(b.String(), `aftershock_ingest_requests_total{endpoint="events",outcome="stored"} 1`) ||
		!strings.Contains(b.String(), `aftershock_ingest_requests_total{endpoint="events",outcome="unauthorized"} 1`) {
		t.Fatalf("metrics lack ingest counters:\n%s", b.String())
	}
}

package natssec_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bintest"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/ingest"
	"github.com/aftershock/aftershock/internal/natssec"
	"github.com/aftershock/aftershock/internal/router"
)

// TestRouterIngestWithItsOwnUser runs the router with --ingest against the
// deployment config: the router's user may not publish events, so ingest
// stores them through the ingest user, and a router without ingest
// credentials refuses to start instead of failing every request.
func TestRouterIngestWithItsOwnUser(t *testing.T) {
	sec := startSecured(t)
	root, err := bintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	opts := func() router.Options {
		return router.Options{
			NATS: bus.Options{
				URL: sec.url, TLSCA: sec.tls.CA,
				NKey: sec.store.SeedPath(natssec.RoleRouter, "", ""),
			},
			RulesDir:      filepath.Join(root, "rules"),
			HTTPAddr:      "127.0.0.1:0",
			StateDir:      t.TempDir(),
			Console:       &bustest.Buffer{},
			NoRulesWatch:  true,
			Ingest:        true,
			IngestOptions: ingest.Options{Token: "tok"},
		}
	}

	t.Run("without ingest credentials the router does not start", func(t *testing.T) {
		_, err := router.Start(context.Background(), opts(), bustest.Logger(t))
		if err == nil || !strings.Contains(err.Error(), "--ingest-nats-nkey") {
			t.Fatalf("got %v, want an error naming --ingest-nats-nkey", err)
		}
	})
	t.Run("an unreadable ingest seed is named", func(t *testing.T) {
		o := opts()
		o.IngestNKey = filepath.Join(t.TempDir(), "missing.nk")
		_, err := router.Start(context.Background(), o, bustest.Logger(t))
		if err == nil || !strings.Contains(err.Error(), "--ingest-nats-nkey") {
			t.Fatalf("got %v, want an error naming --ingest-nats-nkey", err)
		}
	})
	t.Run("with the ingest user events are stored", func(t *testing.T) {
		o := opts()
		o.IngestNKey = sec.store.SeedPath(natssec.RoleIngest, "", "")
		r, err := router.Start(context.Background(), o, bustest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		body := fmt.Appendf(nil, `{"specversion":"1.0","id":"01JINGESTUSER0000000000000","source":"test","type":"rpc.timeout","time":%q,"cluster":"prod","node":"node-5","data":{"target":"db"}}`,
			time.Now().UTC().Format(time.RFC3339Nano))
		req, _ := http.NewRequest(http.MethodPost, "http://"+r.HTTPAddr()+ingest.PathEvents, bytes.NewReader(body))
		req.Header.Set("Content-Type", event.ContentType)
		req.Header.Set("Authorization", "Bearer tok")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("post: %d", resp.StatusCode)
		}
		op := sec.connect(t, natssec.RoleOperator, "", "")
		if n := subjectCount(t, op.JS, bus.StreamEvents, "events.prod.node-5.rpc"); n != 1 {
			t.Fatalf("stored %d events, want 1", n)
		}
	})
}

// TestPartitionedRoutersWithTheirUser runs two partitioned routers as the
// router user of the deployment config: provisioning the partitioned
// stream, heartbeats in ROUTERS, pinned consumers, unpinning on close all
// fit its permissions, and a collector's event becomes an alert.
func TestPartitionedRoutersWithTheirUser(t *testing.T) {
	sec := startSecured(t)
	rules := t.TempDir()
	writeFile(t, filepath.Join(rules, "r.yaml"), `rules:
  - name: oom
    severity: warning
    match: event.type == "kernel.oom"
    group_by: [event.cluster, event.node]
    window: 10m
    condition: window.events() >= 2
    summary: 'ooms on {{ .key.node }}'
`)
	start := func(id string) *router.Router {
		r, err := router.Start(context.Background(), router.Options{
			NATS: bus.Options{
				URL: sec.url, TLSCA: sec.tls.CA,
				NKey: sec.store.SeedPath(natssec.RoleRouter, "", ""),
			},
			RulesDir: rules, HTTPAddr: "127.0.0.1:0", StateDir: t.TempDir(), Console: &bustest.Buffer{},
			NoRulesWatch: true, Partitions: 2, RouterID: id, MemberTTL: 3 * time.Second,
		}, bustest.Logger(t))
		if err != nil {
			t.Fatalf("start %s: %v", id, err)
		}
		return r
	}
	a, b := start("a"), start("b")
	t.Cleanup(a.Close)
	bustest.Eventually(t, "the routers to split the partitions", func() bool {
		na, nb := len(a.Lanes()), len(b.Lanes())
		return na > 0 && nb > 0 && na+nb == 3 // 2 partitions and the drills
	})
	col := sec.connect(t, natssec.RoleCollector, "prod", "node-1")
	for i := range 2 {
		ev := fmt.Appendf(nil, `{"specversion":"1.0","id":"oom-%d","source":"test","type":"kernel.oom","time":%q,"cluster":"prod","node":"node-1","data":{"constraint":"memcg"}}`,
			i, time.Now().UTC().Format(time.RFC3339Nano))
		if _, err := col.JS.Publish(context.Background(), "events.prod.node-1.kernel", ev); err != nil {
			t.Fatal(err)
		}
	}
	op := sec.connect(t, natssec.RoleOperator, "", "")
	bustest.Eventually(t, "the alert", func() bool {
		return subjectCount(t, op.JS, bus.StreamAlerts, "alerts.live.oom") == 1
	})
	b.Close() // unpins and removes its key: a takes its partition at once
	bustest.Eventually(t, "a to take b's lanes", func() bool { return len(a.Lanes()) == 3 })
}

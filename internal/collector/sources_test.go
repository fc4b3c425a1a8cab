package collector_test

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/collector"
	"github.com/aftershock/aftershock/internal/dnsprobe"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/ingest"
)

// servfailResolver is a real DNS server on loopback that answers SERVFAIL.
func servfailResolver(t *testing.T) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(q, dns.RcodeServerFailure)
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestBuiltinSources runs the collector with DNS probes and ingest: a failing
// resolver becomes dns.error on the node's dns subject, and an app's event
// posted to the agent is stored.
func TestBuiltinSources(t *testing.T) {
	s := bustest.Server(t)
	conn := bustest.Connect(t, s)
	resolver := servfailResolver(t)
	ingestAddr := freeAddr(t)
	logDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(logDir, "order.log"), []byte("dial tcp 10.0.3.17:8080: i/o timeout\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- collector.Run(ctx, collector.Options{
			NATS: bus.Options{URL: s.ClientURL()}, Cluster: "dev", Node: "node-1",
			StateDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", Heartbeat: time.Hour,
			DNSEnabled:    true,
			DNS:           dnsprobe.Config{Targets: []string{resolver}, Interval: 50 * time.Millisecond, Timeout: 50 * time.Millisecond},
			IngestEnabled: true, IngestAddr: ingestAddr,
			LogGlobs: []string{filepath.Join(logDir, "*.log")}, LogFromStart: true,
		}, bustest.Logger(t))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	bustest.Eventually(t, "dns.error stored", func() bool {
		m, err := lastOn(conn.JS, "events.dev.node-1.dns")
		return err == nil && strings.Contains(string(m.Data), `"rcode":"SERVFAIL"`)
	})
	bustest.Eventually(t, "rpc.timeout from the log stored", func() bool {
		m, err := lastOn(conn.JS, "events.dev.node-1.rpc")
		return err == nil && strings.Contains(string(m.Data), `"peer":"10.0.3.17:8080"`)
	})
	body := `{"specversion":"1.0","id":"app-1","source":"app","type":"rpc.timeout","time":"2020-06-14T13:15:40Z","cluster":"dev","node":"node-1","data":{"count":1}}`
	bustest.Eventually(t, "ingest answers", func() bool {
		resp, err := http.Post("http://"+ingestAddr+ingest.PathEvents, event.ContentType, strings.NewReader(body))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusAccepted
	})
	if m, err := lastOn(conn.JS, "events.dev.node-1.rpc"); err != nil || m.Header.Get(jetstream.MsgIDHeader) != "app-1" {
		t.Fatalf("ingested event: %v %v", m, err)
	}
}

func TestBadSourceConfigFailsStart(t *testing.T) {
	err := collector.Run(context.Background(), collector.Options{
		NATS: bus.Options{URL: "nats://127.0.0.1:1"}, StateDir: t.TempDir(), HTTPAddr: "127.0.0.1:0",
		DNSEnabled: true, DNS: dnsprobe.Config{Targets: []string{"kube-dns.kube-system"}},
	}, bustest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), `dns target "kube-dns.kube-system"`) {
		t.Fatalf("err = %v", err)
	}
}

// TestIngestBeyondLoopbackNeedsToken (issue #16): a collector serving
// ingest on the node's address without a token refuses to start.
func TestIngestBeyondLoopbackNeedsToken(t *testing.T) {
	err := collector.Run(context.Background(), collector.Options{
		NATS: bus.Options{URL: "nats://127.0.0.1:1"}, StateDir: t.TempDir(), HTTPAddr: "127.0.0.1:0",
		IngestEnabled: true, IngestAddr: "10.0.0.7:9471",
	}, bustest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "ingest on 10.0.0.7:9471: reachable beyond this host, so it needs a bearer token") {
		t.Fatalf("err = %v", err)
	}
}

// TestNoResolvConfStillStarts: the default DNS source finding no
// nameserver (a host without resolv.conf) does not stop the collector.
func TestNoResolvConfStillStarts(t *testing.T) {
	s := bustest.Server(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	err := collector.Run(ctx, collector.Options{
		NATS: bus.Options{URL: s.ClientURL()}, HostRoot: t.TempDir(), StateDir: t.TempDir(), HTTPAddr: "127.0.0.1:0",
		DNSEnabled: true, DNSResolvConf: true,
	}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
}

func TestBadLogPatternsFailStart(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "p.yaml")
	if err := os.WriteFile(bad, []byte("patterns:\n  - name: x\n    regex: '('\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := collector.Run(context.Background(), collector.Options{
		NATS: bus.Options{URL: "nats://127.0.0.1:1"}, StateDir: t.TempDir(), HTTPAddr: "127.0.0.1:0",
		LogGlobs: []string{"/var/log/containers/*.log"}, LogPatterns: bad,
	}, bustest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), bad+`:2: pattern "x": regex`) {
		t.Fatalf("err = %v", err)
	}
}

func lastOn(js jetstream.JetStream, subject string) (*jetstream.RawStreamMsg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return nil, err
	}
	return st.GetLastMsgForSubject(ctx, subject)
}

package natssec_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bintest"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/natssec"
)

// runBinary starts bin with args and a clean environment (no AFTERSHOCK_*
// from the developer's shell) and stops it with SIGTERM at cleanup.
func runBinary(t *testing.T, bin string, args ...string) *bustest.Buffer {
	t.Helper()
	out := &bustest.Buffer{}
	cmd := exec.Command(bin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(bin), out.String())
		}
	})
	return out
}

func subjectCount(t *testing.T, js jetstream.JetStream, stream, subject string) uint64 {
	t.Helper()
	st, err := js.Stream(context.Background(), stream)
	if err != nil {
		return 0
	}
	info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Subjects[subject]
}

// TestBinariesWithNKeysOverTLS runs the real router and collector binaries
// with --nats-nkey and --tls-ca against the deployment config: the collector
// publishes its heartbeats, an impostor using node-1's key for node-2 is
// refused, and an operator's drill event becomes an alert.
func TestBinariesWithNKeysOverTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs both binaries")
	}
	sec := startSecured(t)
	routerBin := bintest.Build(t, "./router")
	collectorBin := bintest.Build(t, "./collector")
	root, err := bintest.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	tlsFlags := []string{"--nats", sec.url, "--tls-ca", sec.tls.CA, "--http", "127.0.0.1:0"}
	console := runBinary(t, routerBin, append(tlsFlags,
		"--nats-nkey", sec.store.SeedPath(natssec.RoleRouter, "", ""),
		"--rules", filepath.Join(root, "rules"),
		"--state-dir", t.TempDir())...)

	op := sec.connect(t, natssec.RoleOperator, "", "")
	bustest.Eventually(t, "router provisioned ALERTS", func() bool {
		_, err := op.JS.Stream(context.Background(), bus.StreamAlerts)
		return err == nil
	})

	runBinary(t, collectorBin, append(tlsFlags,
		"--nats-nkey", sec.store.SeedPath(natssec.RoleCollector, "prod", "node-1"),
		"--cluster", "prod", "--node", "node-1", "--heartbeat", "200ms",
		"--state-dir", t.TempDir())...)
	impostor := runBinary(t, collectorBin, append(tlsFlags,
		"--nats-nkey", sec.store.SeedPath(natssec.RoleCollector, "prod", "node-1"),
		"--cluster", "prod", "--node", "node-2", "--heartbeat", "200ms",
		"--state-dir", t.TempDir())...)

	bustest.Eventually(t, "node-1 heartbeats in EVENTS", func() bool {
		return subjectCount(t, op.JS, bus.StreamEvents, "events.prod.node-1.heartbeat") >= 2
	})
	// The impostor's first refused event (a heartbeat, or a DNS probe's)
	// holds the rest behind it in its spool, so look for any of them.
	bustest.Eventually(t, "the impostor refused", func() bool {
		return strings.Contains(impostor.String(), `Permissions Violation for Publish to \"events.prod.node-2.`)
	})
	if n := subjectCount(t, op.JS, bus.StreamEvents, "events.prod.node-2.heartbeat"); n != 0 {
		t.Fatalf("impostor stored %d heartbeats as node-2", n)
	}

	// The operator replays the example event as a drill with the nats CLI.
	ev, err := os.ReadFile(filepath.Join(root, "deploy", "examples", "test-event.json"))
	if err != nil {
		t.Fatal(err)
	}
	cli := exec.Command(bustest.NATSCLI(t), "--server", sec.url, "--tlsca", sec.tls.CA,
		"--nkey", sec.store.SeedPath(natssec.RoleOperator, "", ""), "--inbox-prefix", bus.OperatorInbox,
		"pub", "--jetstream", "drill.events.dev.node1.app", string(ev))
	cli.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	if out, err := cli.CombinedOutput(); err != nil {
		t.Fatalf("nats pub as operator: %v\n%s", err, out)
	}
	bustest.Eventually(t, "the drill alert in ALERTS", func() bool {
		st, err := op.JS.Stream(context.Background(), bus.StreamAlerts)
		if err != nil {
			return false
		}
		info, err := st.Info(context.Background())
		return err == nil && info.State.Msgs >= 1
	})
	bustest.Eventually(t, "the alert on the router's console", func() bool {
		return strings.Contains(console.String(), "pipeline-test")
	})

	// The operator reads it back without a consumer, and silences a node
	// with `router silence`, as docs/deploy.md and docs/silences.md say.
	operator := func(bin string, args ...string) string {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, out)
		}
		return string(out)
	}
	opFlags := []string{"--server", sec.url, "--tlsca", sec.tls.CA,
		"--nkey", sec.store.SeedPath(natssec.RoleOperator, "", ""), "--inbox-prefix", bus.OperatorInbox}
	if out := operator(bustest.NATSCLI(t), append(opFlags, "sub", "--stream", bus.StreamAlerts, "--direct", "--all", "--raw", "-T", "--wait", "5s", "alerts.drill.>")...); !strings.Contains(out, "pipeline-test") {
		t.Fatalf("nats sub --direct as operator:\n%s", out)
	}
	silenceFlags := []string{"--nats", sec.url, "--tls-ca", sec.tls.CA, "--nats-nkey", sec.store.SeedPath(natssec.RoleOperator, "", "")}
	id := strings.TrimSpace(operator(routerBin, append([]string{"silence", "add"}, append(silenceFlags, "--comment", "disk swap", "--author", "ops", `node="node1"`)...)...))
	if out := operator(routerBin, append([]string{"silence", "list"}, silenceFlags...)...); !strings.Contains(out, id) {
		t.Fatalf("router silence list as operator does not show %s:\n%s", id, out)
	}
	if out := operator(bustest.NATSCLI(t), append(opFlags, "sub", "--stream", "KV_"+bus.BucketSilence, "--direct", "--last-per-subject", "--raw", "-T", "--wait", "5s", "$KV."+bus.BucketSilence+".>")...); !strings.Contains(out, "disk swap") {
		t.Fatalf("silences with nats sub --direct as operator:\n%s", out)
	}
}

package natssec_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/bus/embedded"
	"github.com/aftershock/aftershock/internal/natssec"
)

// The deployment's server configuration, loaded as is by every test here.
const serverConf = "../../deploy/nats/nats-server.conf"

// secured is a nats-server started from deploy/nats/nats-server.conf with
// users and certificates generated for the test.
type secured struct {
	s     *server.Server
	url   string
	dir   string
	store natssec.Store
	tls   natssec.TLSFiles
}

// collectors the test servers know.
var testNodes = [][2]string{{"prod", "node-1"}, {"prod", "node-2"}, {"staging", "node-1"}, {"prod", "ip-10-0-0-1.ec2.internal"}}

// prepare writes the config, the users of every role and testNodes, and a
// CA and server certificate for 127.0.0.1 into a temp dir, and sets the
// environment the config reads.
func prepare(tb testing.TB) *secured {
	tb.Helper()
	dir := tb.TempDir()
	conf, err := os.ReadFile(serverConf)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nats-server.conf"), conf, 0o644); err != nil {
		tb.Fatal(err)
	}
	sec := &secured{dir: dir, store: natssec.Store{Dir: dir}}
	for _, r := range []natssec.Role{natssec.RoleSystem, natssec.RoleRouter, natssec.RoleIngest, natssec.RoleOperator} {
		if _, _, err := sec.store.Ensure(r, "", ""); err != nil {
			tb.Fatal(err)
		}
	}
	for _, n := range testNodes {
		if _, _, err := sec.store.Ensure(natssec.RoleCollector, n[0], n[1]); err != nil {
			tb.Fatal(err)
		}
	}
	if _, err := sec.store.WriteAuth(); err != nil {
		tb.Fatal(err)
	}
	if sec.tls, err = natssec.WriteServerTLS(filepath.Join(dir, "tls"), []string{"127.0.0.1", "localhost"}, time.Hour); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("NATS_SERVER_NAME", "test-0")
	tb.Setenv("NATS_STORE_DIR", filepath.Join(dir, "unused"))
	tb.Setenv("NATS_ROUTES", "[]")
	tb.Setenv("NATS_TLS_CERT", sec.tls.Cert)
	tb.Setenv("NATS_TLS_KEY", sec.tls.Key)
	tb.Setenv("NATS_TLS_CA", sec.tls.CA)
	return sec
}

// startSecured starts one server from the deployment config on free
// loopback ports, without cluster routes.
func startSecured(tb testing.TB) *secured {
	tb.Helper()
	sec := prepare(tb)
	s, err := embedded.Start(bus.EmbeddedOptions{
		ConfigFile: filepath.Join(sec.dir, "nats-server.conf"),
		StateDir:   filepath.Join(sec.dir, "js"),
		Host:       "127.0.0.1",
		Port:       -1,
	}, bustest.Logger(tb), func(o *server.Options) {
		o.HTTPPort = 0
		o.Cluster = server.ClusterOpts{}
		o.Routes = nil
	})
	if err != nil {
		tb.Fatalf("start server from %s: %v", serverConf, err)
	}
	tb.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	sec.s = s
	sec.url = s.ClientURL()
	return sec
}

// connect dials as role with bus.Connect, the path both binaries use.
func (sec *secured) connect(tb testing.TB, role natssec.Role, cluster, node string) *bus.Conn {
	tb.Helper()
	o := bus.Options{
		URL:   sec.url,
		Name:  tb.Name() + "-" + string(role),
		NKey:  sec.store.SeedPath(role, cluster, node),
		TLSCA: sec.tls.CA,
	}
	o.InboxPrefix = inbox(role, cluster, node)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := bus.Connect(ctx, o, bustest.Logger(tb))
	if err != nil {
		tb.Fatalf("connect as %s %s/%s: %v", role, cluster, node, err)
	}
	tb.Cleanup(c.Close)
	return c
}

// client dials as role with plain nats.go and reports async errors
// (permission violations) on the returned channel.
func (sec *secured) client(tb testing.TB, role natssec.Role, cluster, node string) (*nats.Conn, <-chan error) {
	tb.Helper()
	errs := make(chan error, 64)
	nk, err := nats.NkeyOptionFromSeed(sec.store.SeedPath(role, cluster, node))
	if err != nil {
		tb.Fatal(err)
	}
	opts := []nats.Option{
		nk,
		nats.RootCAs(sec.tls.CA),
		nats.PermissionErrOnSubscribe(true),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			select {
			case errs <- err:
			default:
			}
		}),
	}
	if p := inbox(role, cluster, node); p != "" {
		opts = append(opts, nats.CustomInboxPrefix(p))
	}
	nc, err := nats.Connect(sec.url, opts...)
	if err != nil {
		tb.Fatalf("connect as %s: %v", role, err)
	}
	tb.Cleanup(nc.Close)
	return nc, errs
}

// inbox is the reply prefix each role's user may receive on.
func inbox(role natssec.Role, cluster, node string) string {
	switch role {
	case natssec.RoleCollector:
		return bus.CollectorInbox(cluster, node)
	case natssec.RoleIngest:
		return bus.IngestInbox
	case natssec.RoleRouter:
		return bus.RouterInbox
	case natssec.RoleOperator:
		return bus.OperatorInbox
	}
	return ""
}

// wantViolation waits for the server's permissions error about subject (a
// subject ending in "." is a prefix).
func wantViolation(tb testing.TB, errs <-chan error, op, subject string) {
	tb.Helper()
	want := `permissions violation for ` + op + ` to "` + subject
	if !strings.HasSuffix(subject, ".") {
		want += `"`
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case err := <-errs:
			if errors.Is(err, nats.ErrPermissionViolation) && strings.Contains(strings.ToLower(err.Error()), strings.ToLower(want)) {
				return
			}
			tb.Logf("other async error: %v", err)
		case <-timeout:
			tb.Fatalf("no %q error", want)
		}
	}
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

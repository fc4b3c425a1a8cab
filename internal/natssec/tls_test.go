package natssec_test

import (
	"context"
	"crypto/tls"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/bus/embedded"
	"github.com/aftershock/aftershock/internal/natssec"
)

// dial connects with o as both binaries do and returns how long a failure
// took: configuration errors must fail at once, not at the deadline.
func dial(t *testing.T, o bus.Options) (*bus.Conn, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := bus.Connect(ctx, o, bustest.Logger(t))
	if err == nil {
		t.Cleanup(c.Close)
	} else if ctx.Err() != nil {
		t.Fatalf("failed only at the deadline: %v", err)
	}
	return c, err
}

func TestTLS(t *testing.T) {
	sec := startSecured(t)
	router := sec.store.SeedPath(natssec.RoleRouter, "", "")
	other, err := natssec.NewCA("another CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	otherCA := filepath.Join(sec.dir, "other-ca.crt")
	writeFile(t, otherCA, string(other.CertPEM))
	plainURL := strings.Replace(sec.url, "tls://", "nats://", 1)

	tests := []struct {
		name    string
		opts    bus.Options
		wantErr string
	}{
		{"server verified with the CA", bus.Options{URL: sec.url, NKey: router, TLSCA: sec.tls.CA}, ""},
		{"nats:// URL upgrades to TLS when a CA is given", bus.Options{URL: plainURL, NKey: router, TLSCA: sec.tls.CA}, ""},
		{"no TLS settings", bus.Options{URL: plainURL, NKey: router}, "certificate signed by unknown authority"},
		{"server certificate from another CA", bus.Options{URL: sec.url, NKey: router, TLSCA: otherCA}, "certificate signed by unknown authority"},
		{"missing CA file", bus.Options{URL: sec.url, NKey: router, TLSCA: filepath.Join(sec.dir, "nope.crt")}, "--tls-ca"},
		{"certificate without key", bus.Options{URL: sec.url, NKey: router, TLSCA: sec.tls.CA, TLSCert: sec.tls.Cert}, "--tls-cert and --tls-key go together"},
		{"missing key file", bus.Options{URL: sec.url, NKey: router, TLSCA: sec.tls.CA, TLSCert: sec.tls.Cert, TLSKey: "/nonexistent/key"}, "--tls-key"},
		{"missing nkey file", bus.Options{URL: sec.url, NKey: "/nonexistent/seed", TLSCA: sec.tls.CA}, "--nats-nkey"},
		{"nkey file that is not a seed", bus.Options{URL: sec.url, NKey: sec.tls.CA, TLSCA: sec.tls.CA}, "nkey"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := dial(t, tt.opts)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if cs, ok := c.NC.TLSConnectionState(); ok != nil || cs.Version < tls.VersionTLS12 {
					t.Fatalf("connection not on TLS 1.2+: %v", ok)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestMutualTLS requires client certificates, as a deployment may add to
// nkeys, and checks --tls-cert/--tls-key.
func TestMutualTLS(t *testing.T) {
	sec := prepare(t)
	s, err := embedded.Start(bus.EmbeddedOptions{
		ConfigFile: filepath.Join(sec.dir, "nats-server.conf"),
		StateDir:   filepath.Join(sec.dir, "js"),
		Host:       "127.0.0.1",
		Port:       -1,
	}, bustest.Logger(t), func(o *server.Options) {
		o.HTTPPort, o.Cluster, o.Routes = 0, server.ClusterOpts{}, nil
		o.TLSVerify = true
		o.TLSConfig.ClientAuth = tls.RequireAndVerifyClientCert
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	router := sec.store.SeedPath(natssec.RoleRouter, "", "")
	ca, err := natssec.LoadCA(sec.tls.CA, filepath.Join(sec.dir, "tls", "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	pair, err := ca.Issue("router", nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, key := filepath.Join(sec.dir, "router.crt"), filepath.Join(sec.dir, "router.key")
	writeFile(t, cert, string(pair.CertPEM))
	writeFile(t, key, string(pair.KeyPEM))

	if _, err := dial(t, bus.Options{URL: s.ClientURL(), NKey: router, TLSCA: sec.tls.CA, TLSCert: cert, TLSKey: key}); err != nil {
		t.Fatalf("with a client certificate: %v", err)
	}
	_, err = dial(t, bus.Options{URL: s.ClientURL(), NKey: router, TLSCA: sec.tls.CA})
	if err == nil || !strings.Contains(err.Error(), "certificate required") {
		t.Fatalf("without a client certificate: got %v, want the server's refusal", err)
	}
}

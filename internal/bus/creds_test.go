package bus_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/bus/embedded"
)

// operatorMode is a server in NATS's decentralised JWT mode: an operator,
// an account with JetStream, and user credentials files signed by it.
type operatorMode struct {
	url     string
	account nkeys.KeyPair
	dir     string
}

func startOperatorMode(t *testing.T) *operatorMode {
	t.Helper()
	op, _ := nkeys.CreateOperator()
	opPub, _ := op.PublicKey()
	opJWT, err := jwt.NewOperatorClaims(opPub).Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	sys, _ := nkeys.CreateAccount()
	sysPub, _ := sys.PublicKey()
	sysJWT, err := jwt.NewAccountClaims(sysPub).Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	acc, _ := nkeys.CreateAccount()
	accPub, _ := acc.PublicKey()
	ac := jwt.NewAccountClaims(accPub)
	ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
	accJWT, err := ac.Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	conf := fmt.Sprintf("operator: %s\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {\n  %s: %s\n  %s: %s\n}\n",
		opJWT, sysPub, sysPub, sysJWT, accPub, accJWT)
	path := filepath.Join(dir, "server.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := embedded.Start(bus.EmbeddedOptions{ConfigFile: path, StateDir: filepath.Join(dir, "js"), Port: -1}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	return &operatorMode{url: s.ClientURL(), account: acc, dir: dir}
}

// creds writes a credentials file for a user of signer's account allowed to
// publish pub (and receive replies).
func (m *operatorMode) creds(t *testing.T, signer nkeys.KeyPair, name string, pub ...string) string {
	t.Helper()
	u, _ := nkeys.CreateUser()
	uPub, _ := u.PublicKey()
	uc := jwt.NewUserClaims(uPub)
	uc.Name = name
	uc.IssuerAccount, _ = m.account.PublicKey()
	uc.Pub.Allow.Add(pub...)
	uc.Sub.Allow.Add("_INBOX.>")
	ujwt, err := uc.Encode(signer)
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := u.Seed()
	b, err := jwt.FormatUserConfig(ujwt, seed)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(m.dir, name+".creds")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestCredsFile covers --nats-creds: a JWT user connects, provisions and
// publishes within its permissions; a user signed by an unknown account is
// refused at once.
func TestCredsFile(t *testing.T) {
	m := startOperatorMode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	router := m.creds(t, m.account, "router", "$JS.API.>", "alerts.>")
	c, err := bus.Connect(ctx, bus.Options{URL: m.url, Creds: router}, bustest.Logger(t))
	if err != nil {
		t.Fatalf("router creds: %v", err)
	}
	defer c.Close()
	if _, err := bus.Provision(ctx, c.JS, bus.DefaultTopology()); err != nil {
		t.Fatalf("provision with creds: %v", err)
	}
	if _, err := c.JS.Publish(ctx, "alerts.x", []byte("{}")); err != nil {
		t.Fatalf("publish alert: %v", err)
	}

	stranger, _ := nkeys.CreateAccount()
	bad := m.creds(t, stranger, "stranger", ">")
	_, err = bus.Connect(ctx, bus.Options{URL: m.url, Creds: bad}, nil)
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("creds of an unknown account: got %v, want an authorization error", err)
	}
	if ctx.Err() != nil {
		t.Fatal("refusal took until the deadline")
	}
	garbage := filepath.Join(m.dir, "garbage.creds")
	if err := os.WriteFile(garbage, []byte("not creds"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := bus.Connect(ctx, bus.Options{URL: m.url, Creds: garbage}, nil); err == nil || ctx.Err() != nil {
		t.Fatalf("garbage creds file: got %v, want an immediate error", err)
	}
}

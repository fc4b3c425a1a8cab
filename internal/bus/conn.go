package bus

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/aftershock/aftershock/internal/event"
)

// Options selects and authenticates the NATS connection.
type Options struct {
	// URL of the server or cluster (comma-separated).
	URL string
	// Embedded configures the in-process server a router starts (package
	// bus/embedded) when URL is empty; Connect itself never starts one.
	Embedded EmbeddedOptions
	// Name is the client connection name shown by `nats server report`.
	Name string
	// Creds is a NATS credentials file (JWT + nkey seed).
	Creds string
	// NKey is an nkey seed file.
	NKey string
	// TLS client settings; CA alone verifies the server, Cert+Key add a client
	// certificate.
	TLSCA, TLSCert, TLSKey string
	// TLSConfig, when set, is used as is (tests).
	TLSConfig *tls.Config
	// InboxPrefix replaces "_INBOX" for reply subjects, so NATS permissions
	// can let a client receive its own replies (JetStream publish acks) and
	// nothing else. See CollectorInbox.
	InboxPrefix string
	// Background returns at once even when the server is unreachable and
	// connects in the background: a collector must run while NATS is away.
	Background bool
}

// EmbeddedOptions configures the in-process nats-server that
// bus/embedded.Start runs: the one-command local run, and the real server in
// tests. It lives here, as plain data, so options and flags need not link
// nats-server.
type EmbeddedOptions struct {
	// StateDir holds the JetStream file store (under StateDir/jetstream).
	StateDir string
	// Host defaults to 127.0.0.1: the embedded server is for this machine.
	Host string
	// Port defaults to 4222; -1 picks a free port (tests).
	Port int
	// ServerName identifies the server in logs and in JetStream metadata.
	ServerName string
	// ConfigFile, when set, is a nats-server config file loaded first
	// (accounts, permissions, TLS); the fields above still override it.
	ConfigFile string
}

// Conn is a NATS connection with JetStream.
type Conn struct {
	NC  *nats.Conn
	JS  jetstream.JetStream
	log *slog.Logger
}

// Connect dials opts.URL. The connection reconnects forever: a router or
// collector outlives NATS outages.
func Connect(ctx context.Context, opts Options, log *slog.Logger) (*Conn, error) {
	c := &Conn{log: log}
	u := opts.URL
	if u == "" {
		return nil, errors.New("connect nats: no URL (start an embedded server with bus/embedded first)")
	}
	if err := opts.checkFiles(); err != nil {
		return nil, err
	}
	nopts := []nats.Option{
		nats.Name(opts.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(time.Second),
		nats.ReconnectJitter(500*time.Millisecond, 2*time.Second),
		// Publishes made while disconnected are buffered by nats.go up to
		// this size; callers that must not lose data use JetStream acks.
		nats.ReconnectBufSize(8 << 20),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("nats disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			log.Info("nats reconnected", "url", Redact(nc.ConnectedUrl()))
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			log.Warn("nats async error", "subject", subj, "err", err)
		}),
	}
	if opts.InboxPrefix != "" {
		nopts = append(nopts, nats.CustomInboxPrefix(opts.InboxPrefix))
	}
	if opts.Creds != "" {
		nopts = append(nopts, nats.UserCredentials(opts.Creds))
	}
	if opts.NKey != "" {
		o, err := nats.NkeyOptionFromSeed(opts.NKey)
		if err != nil {
			return nil, fmt.Errorf("nats nkey %s: %w", opts.NKey, err)
		}
		nopts = append(nopts, o)
	}
	if opts.TLSConfig != nil {
		nopts = append(nopts, nats.Secure(opts.TLSConfig))
	}
	if opts.TLSCA != "" {
		nopts = append(nopts, nats.RootCAs(opts.TLSCA))
	}
	if opts.TLSCert != "" {
		nopts = append(nopts, nats.ClientCert(opts.TLSCert, opts.TLSKey))
	}
	var nc *nats.Conn
	var err error
	if opts.Background {
		nc, err = nats.Connect(u, append(nopts, nats.RetryOnFailedConnect(true))...)
	} else {
		nc, err = connectRetry(ctx, u, nopts)
	}
	if err != nil {
		return nil, fmt.Errorf("connect nats %s: %w", Redact(u), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("jetstream: %w", err)
	}
	c.NC, c.JS = nc, js
	return c, nil
}

// checkFiles fails at once, naming the flag, when a credentials or TLS
// file cannot be read: waiting for it would only delay the error.
func (o Options) checkFiles() error {
	var errs []error
	for _, f := range []struct{ flag, path string }{
		{"--nats-creds", o.Creds}, {"--nats-nkey", o.NKey},
		{"--tls-ca", o.TLSCA}, {"--tls-cert", o.TLSCert}, {"--tls-key", o.TLSKey},
	} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			errs = append(errs, fmt.Errorf("nats %s: %w", f.flag, err))
		}
	}
	if o.Creds != "" && len(errs) == 0 {
		if err := checkCreds(o.Creds); err != nil {
			errs = append(errs, fmt.Errorf("nats --nats-creds %s: %w", o.Creds, err))
		}
	}
	if (o.TLSCert == "") != (o.TLSKey == "") {
		errs = append(errs, errors.New("nats tls: --tls-cert and --tls-key go together"))
	}
	return errors.Join(errs...)
}

// checkCreds parses a credentials file (a user JWT and its nkey seed).
func checkCreds(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if _, err := nkeys.ParseDecoratedJWT(b); err != nil {
		return fmt.Errorf("no user JWT: %w", err)
	}
	if _, err := nkeys.ParseDecoratedNKey(b); err != nil {
		return fmt.Errorf("no nkey seed: %w", err)
	}
	return nil
}

// connectRetry keeps trying the first connection until ctx ends, so a router
// started before its NATS cluster comes up waits instead of exiting.
func connectRetry(ctx context.Context, u string, opts []nats.Option) (*nats.Conn, error) {
	opts = append(opts, nats.RetryOnFailedConnect(false))
	delay := 250 * time.Millisecond
	for {
		nc, err := nats.Connect(u, opts...)
		if err == nil {
			return nc, nil
		}
		if permanent(err) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (last error: %w)", ctx.Err(), err)
		case <-time.After(delay):
		}
		delay = min(delay*2, 5*time.Second)
	}
}

// CollectorInbox is the reply-subject prefix of the collector of node in
// cluster: its NATS user may subscribe to CollectorInbox(...)+".>" only, so it
// receives its publish acks and cannot listen to anyone else's replies.
func CollectorInbox(cluster, node string) string {
	return "_INBOX." + event.Token(cluster) + "." + event.Token(node)
}

// Reply-subject prefixes of the other roles: each role's NATS user may
// subscribe to its own prefix+".>" only, so no role reads another's
// replies (JetStream acks, API answers, KV values). Their first tokens
// differ from "_INBOX" so no collector's inbox (_INBOX.<cluster>.<node>)
// can cover them.
const (
	// IngestInbox is the router's ingest connection's (--ingest-nats-nkey).
	IngestInbox = "_INBOX_INGEST"
	// RouterInbox is the router's own connection's, and backtest's.
	RouterInbox = "_INBOX_ROUTER"
	// OperatorInbox is people's: `router silence`, and the nats CLI with
	// --inbox-prefix _INBOX_OPERATOR.
	OperatorInbox = "_INBOX_OPERATOR"
)

// permanent reports errors that will not heal by waiting: authentication,
// and TLS set up on one side only or with a certificate the other side does
// not trust. Retrying them would only hide a configuration mistake.
func permanent(err error) bool {
	var unknownCA x509.UnknownAuthorityError
	var badHost x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	// A TLS alert from the server (certificate required, bad certificate)
	// is its verdict on our configuration.
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "remote error" {
		return true
	}
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrSecureConnRequired) || errors.Is(err, nats.ErrSecureConnWanted) ||
		errors.As(err, &unknownCA) || errors.As(err, &badHost) || errors.As(err, &invalid) ||
		errors.As(err, &verify)
}

// Close drains the connection (pending acks and publishes flush).
func (c *Conn) Close() {
	if c.NC != nil {
		if err := c.NC.Drain(); err != nil {
			c.NC.Close()
		}
		for c.NC.IsDraining() {
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Redact hides passwords and tokens in a NATS URL list for logs and errors.
func Redact(raw string) string {
	if strings.Contains(raw, ",") {
		parts := strings.Split(raw, ",")
		for i, p := range parts {
			parts[i] = Redact(p)
		}
		return strings.Join(parts, ",")
	}
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	} else if u.User.Username() != "" {
		u.User = url.User("xxxxx")
	}
	return u.String()
}

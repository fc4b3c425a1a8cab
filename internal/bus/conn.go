package bus

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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
	if opts.TLSCert != "" || opts.TLSKey != "" {
		if opts.TLSCert == "" || opts.TLSKey == "" {
			return nil, errors.New("nats tls: --tls-cert and --tls-key go together")
		}
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
		// Authentication and TLS errors will not heal by waiting.
		if errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
			errors.Is(err, nats.ErrSecureConnRequired) || errors.Is(err, nats.ErrSecureConnWanted) {
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

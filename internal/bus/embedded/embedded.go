// Package embedded runs an in-process nats-server with JetStream: the
// router's one-command local run and the real server in tests. It is its own
// package so that only binaries that start a server link nats-server (the
// collector must stay small).
package embedded

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/aftershock/aftershock/internal/bus"
)

// Start starts a JetStream-enabled nats-server and waits until it accepts
// connections. Each adjust edits the options last, after the config file and
// o: tests use it to move a deployment config's fixed ports and routes onto
// free loopback ports.
func Start(o bus.EmbeddedOptions, log *slog.Logger, adjust ...func(*server.Options)) (*server.Server, error) {
	if o.StateDir == "" {
		return nil, errors.New("embedded nats: state dir is required")
	}
	if err := os.MkdirAll(o.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("embedded nats: create state dir: %w", err)
	}
	unlock, err := lockStateDir(o.StateDir)
	if err != nil {
		return nil, err
	}
	s, err := start(o, log, adjust)
	if err != nil {
		unlock()
		return nil, err
	}
	go func() {
		s.WaitForShutdown()
		unlock()
	}()
	return s, nil
}

// ErrStateDirInUse is returned when another server holds the state dir.
var ErrStateDirInUse = errors.New("embedded nats: state dir in use by another server")

func start(o bus.EmbeddedOptions, log *slog.Logger, adjust []func(*server.Options)) (*server.Server, error) {
	opts := &server.Options{}
	if o.ConfigFile != "" {
		var err error
		if opts, err = server.ProcessConfigFile(o.ConfigFile); err != nil {
			return nil, fmt.Errorf("embedded nats: load %s: %w", o.ConfigFile, err)
		}
	}
	opts.JetStream = true
	opts.StoreDir = o.StateDir // nats-server adds its own "jetstream" subdirectory
	opts.NoSigs = true
	if o.Host != "" || opts.Host == "" {
		opts.Host = orDefault(o.Host, "127.0.0.1")
	}
	if o.Port != 0 || opts.Port == 0 {
		opts.Port = o.Port
		if o.Port == 0 {
			opts.Port = 4222
		}
	}
	if o.ServerName != "" {
		opts.ServerName = o.ServerName
	}
	for _, a := range adjust {
		a(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: %w", err)
	}
	if log != nil {
		s.SetLoggerV2(&serverLogger{log: log.With("component", "nats-server")}, false, false, false)
	}
	go s.Start()
	if !s.ReadyForConnections(30 * time.Second) {
		s.Shutdown()
		return nil, fmt.Errorf("embedded nats: not ready on %s:%d after 30s (port in use?)", opts.Host, opts.Port)
	}
	return s, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// serverLogger adapts nats-server's logger to slog; notices go to debug so
// the router's own log stays readable.
type serverLogger struct{ log *slog.Logger }

func (l *serverLogger) Noticef(format string, v ...any) { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Warnf(format string, v ...any)   { l.log.Warn(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Fatalf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Errorf(format string, v ...any)  { l.log.Error(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Debugf(format string, v ...any)  { l.log.Debug(fmt.Sprintf(format, v...)) }
func (l *serverLogger) Tracef(format string, v ...any)  {}

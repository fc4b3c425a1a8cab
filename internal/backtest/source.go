package backtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/embedded"
)

// Source is where the stored events are: a NATS server or cluster
// (NATS.URL), or the embedded server's store of a stopped router.
type Source struct {
	NATS bus.Options
	// StateDir is the router's state directory, read when NATS.URL is
	// empty: an embedded server is started on it on a random loopback port.
	// The router must be stopped (the store is locked while it runs);
	// connect to its NATS instead.
	StateDir string
	// ConnectTimeout bounds the first connection (default 10s): a one-shot
	// command must not wait forever for an unreachable server.
	ConnectTimeout time.Duration
}

// Open connects to the source; close releases the connection and the
// embedded server, if one was started.
func Open(ctx context.Context, src Source, log *slog.Logger) (js jetstream.JetStream, close func(), err error) {
	var stops []func()
	close = func() {
		for i := len(stops) - 1; i >= 0; i-- {
			stops[i]()
		}
	}
	opts := src.NATS
	if opts.Name == "" {
		opts.Name = "aftershock-backtest"
	}
	if opts.InboxPrefix == "" {
		opts.InboxPrefix = bus.RouterInbox // it reads with the router's user
	}
	if opts.URL == "" {
		if src.StateDir == "" {
			return nil, nil, errors.New("backtest: no source: give a NATS URL or the router's state dir")
		}
		// Never create an empty store where the operator meant an existing one.
		if _, err := os.Stat(filepath.Join(src.StateDir, "jetstream")); err != nil {
			return nil, nil, fmt.Errorf("backtest: state dir %s holds no JetStream store: %w", src.StateDir, err)
		}
		s, err := embedded.Start(bus.EmbeddedOptions{StateDir: src.StateDir, Host: "127.0.0.1", Port: -1}, log)
		if err != nil {
			return nil, nil, fmt.Errorf("backtest: %w", err)
		}
		stops = append(stops, func() { s.Shutdown(); s.WaitForShutdown() })
		opts.URL = s.ClientURL()
	}
	if src.ConnectTimeout <= 0 {
		src.ConnectTimeout = 10 * time.Second
	}
	cctx, cancel := context.WithTimeout(ctx, src.ConnectTimeout)
	defer cancel()
	c, err := bus.Connect(cctx, opts, log)
	if err != nil {
		close()
		return nil, nil, fmt.Errorf("backtest: %w", err)
	}
	stops = append(stops, c.Close)
	return c.JS, close, nil
}

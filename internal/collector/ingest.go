package collector

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/aftershock/aftershock/internal/ingest"
	"github.com/aftershock/aftershock/internal/opshttp"
)

// startIngest mounts the HTTP ingest endpoints on the ops server, or serves
// them on their own address (e.g. the node IP, so pods can reach their
// agent while /metrics stays on loopback). It returns a stop function.
func (c *Collector) startIngest() (func(), error) {
	io := c.opts.Ingest
	io.JS = c.conn.JS
	io.Registry = c.ops.Registry
	io.Log = c.log.With("component", "ingest")
	if io.Cluster == "" {
		io.Cluster = c.opts.Cluster
	}
	if io.Node == "" {
		io.Node = c.opts.Node
	}
	io.Local = true
	h, err := ingest.New(io)
	if err != nil {
		return nil, err
	}
	if c.opts.IngestAddr == "" {
		h.Mount(c.ops.Mux)
		return func() {}, nil
	}
	mux := http.NewServeMux()
	h.Mount(mux)
	srv, err := opshttp.Listen(c.opts.IngestAddr, mux, nodeLimits(), c.ops.Registry, "ingest", c.log)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	c.log.Info("serving ingest", "addr", srv.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.opts.ShutdownTimeout)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// nodeLimits are the collector's HTTP limits: pods of one node are few, and
// the agent must stay within its memory limit (64Mi in Kubernetes) however
// they behave. Bodies in flight are bounded by ingest (8 MiB by default).
func nodeLimits() opshttp.Limits {
	l := opshttp.DefaultLimits()
	l.MaxConns = 128
	l.ReadTimeout = 10 * time.Second
	return l
}

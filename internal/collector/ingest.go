package collector

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/aftershock/aftershock/internal/ingest"
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
	ln, err := net.Listen("tcp", c.opts.IngestAddr)
	if err != nil {
		return nil, fmt.Errorf("ingest listen %s: %w", c.opts.IngestAddr, err)
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			c.log.Error("ingest server stopped", "err", err)
		}
	}()
	c.log.Info("serving ingest", "addr", ln.Addr().String())
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

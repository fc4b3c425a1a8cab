// Package opshttp serves the operational endpoints every aftershock binary
// has: /healthz (alive), /readyz (can do its job) and /metrics (Prometheus).
package opshttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Check reports nil when a dependency is fine.
type Check func(ctx context.Context) error

// Server is the ops HTTP server. Extra handlers (e.g. ingest) are mounted on
// Mux before Start.
type Server struct {
	Mux      *http.ServeMux
	Registry *prometheus.Registry
	// Limits bound clients (DefaultLimits unless changed before Start).
	Limits Limits
	ready  []namedCheck
	log    *slog.Logger
	srv    *Listener
}

type namedCheck struct {
	name string
	fn   Check
}

// New returns a server with a fresh registry holding Go and process metrics.
func New(log *slog.Logger) *Server {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{Mux: http.NewServeMux(), Registry: reg, Limits: DefaultLimits(), log: log}
	s.Mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	s.Mux.HandleFunc("GET /readyz", s.readyz)
	s.Mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	return s
}

// AddReadiness adds a check to /readyz.
func (s *Server) AddReadiness(name string, fn Check) {
	s.ready = append(s.ready, namedCheck{name, fn})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	var errs []error
	for _, c := range s.ready {
		if err := c.fn(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ready\n"))
}

// Start listens on addr (":0" picks a port) and serves until Shutdown.
func (s *Server) Start(addr string) error {
	srv, err := Listen(addr, s.Mux, s.Limits, s.Registry, "ops", s.log)
	if err != nil {
		return err
	}
	s.srv = srv
	s.log.Info("serving /healthz /readyz /metrics", "addr", srv.Addr().String(), "max_connections", s.Limits.MaxConns)
	return nil
}

// Addr is the bound address after Start.
func (s *Server) Addr() string {
	if s.srv == nil {
		return ""
	}
	return s.srv.Addr().String()
}

// Shutdown stops the server, waiting for in-flight requests.
func (s *Server) Shutdown(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	return s.srv.Shutdown(ctx)
}

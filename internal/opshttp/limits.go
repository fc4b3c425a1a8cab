package opshttp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Limits bound what clients can hold on a server, so slow, idle or many
// clients cannot exhaust the process: every phase of a request has a
// deadline, and connections beyond MaxConns are answered 503 at once.
type Limits struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, body included: a client
	// that trickles its body is cut off (408).
	ReadTimeout time.Duration
	// WriteTimeout bounds handling and answering, from the end of the
	// headers; it must exceed the longest handler (ingest's queue wait
	// plus its publish timeout).
	WriteTimeout time.Duration
	// IdleTimeout closes kept-alive connections with no request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers.
	MaxHeaderBytes int
	// MaxConns bounds open connections; beyond it a new connection gets a
	// 503 with Retry-After and is closed, costing no goroutine of the
	// server.
	MaxConns int
}

// DefaultLimits are the ops and ingest servers' limits unless set.
func DefaultLimits() Limits {
	return Limits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    16 << 10,
		MaxConns:          1024,
	}
}

// Validate names every bad field.
func (l Limits) Validate() error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"read header timeout", l.ReadHeaderTimeout}, {"read timeout", l.ReadTimeout}, {"write timeout", l.WriteTimeout}, {"idle timeout", l.IdleTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("http %s %s: must be positive", d.name, d.v))
		}
	}
	if l.ReadHeaderTimeout > l.ReadTimeout {
		errs = append(errs, fmt.Errorf("http read header timeout %s: must not exceed the read timeout %s", l.ReadHeaderTimeout, l.ReadTimeout))
	}
	if l.MaxHeaderBytes < 1024 {
		errs = append(errs, fmt.Errorf("http max header bytes %d: must be at least 1024", l.MaxHeaderBytes))
	}
	if l.MaxConns < 1 {
		errs = append(errs, fmt.Errorf("http max connections %d: must be at least 1", l.MaxConns))
	}
	return errors.Join(errs...)
}

// Listener is an HTTP server on one address with Limits.
type Listener struct {
	srv *http.Server
	ln  *capListener
	log *slog.Logger
}

// Listen binds addr (":0" picks a port) and serves h with l until
// Shutdown. name labels its metrics in reg (nil: none).
func Listen(addr string, h http.Handler, l Limits, reg prometheus.Registerer, name string, log *slog.Logger) (*Listener, error) {
	if err := l.Validate(); err != nil {
		return nil, err
	}
	inner, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	ln := &capListener{Listener: inner, max: int64(l.MaxConns), drains: make(chan struct{}, 64)}
	s := &Listener{ln: ln, log: log, srv: &http.Server{
		Handler:           h,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}}
	if reg != nil {
		labels := prometheus.Labels{"server": name}
		if err := errors.Join(
			reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "aftershock_http_connections", Help: "Open HTTP connections, by server.", ConstLabels: labels,
			}, func() float64 { return float64(ln.open.Load()) })),
			reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "aftershock_http_connections_refused_total", Help: "HTTP connections answered 503 because the server had its maximum open, by server.", ConstLabels: labels,
			}, func() float64 { return float64(ln.refused.Load()) })),
		); err != nil {
			inner.Close()
			return nil, fmt.Errorf("http metrics: %w", err)
		}
	}
	go func() {
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("http server stopped", "addr", inner.Addr().String(), "err", err)
		}
	}()
	return s, nil
}

// Addr is the bound address.
func (s *Listener) Addr() net.Addr { return s.ln.Addr() }

// Refused counts connections answered 503 for being over MaxConns.
func (s *Listener) Refused() int64 { return s.ln.refused.Load() }

// Shutdown stops accepting and waits for in-flight requests.
func (s *Listener) Shutdown(ctx context.Context) error { return s.srv.Shutdown(ctx) }

// capListener counts open connections and refuses those over max with a
// canned 503, written from Accept without a goroutine per connection.
type capListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	refused atomic.Int64
	// drains bounds the goroutines that read what a refused client sent
	// before closing (closing with unread data would reset the connection
	// and could lose the 503).
	drains chan struct{}
}

func (l *capListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			l.refused.Add(1)
			l.refuse(c)
			continue
		}
		return &countedConn{Conn: c, l: l}, nil
	}
}

func (l *capListener) refuse(c net.Conn) {
	body := "too many connections (limit " + strconv.FormatInt(l.max, 10) + "), retry\n"
	_ = c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	_, _ = c.Write([]byte("HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body))
	tc, ok := c.(*net.TCPConn)
	if !ok {
		c.Close()
		return
	}
	select {
	case l.drains <- struct{}{}:
		go func() {
			defer func() { <-l.drains }()
			_ = tc.CloseWrite()
			_ = tc.SetReadDeadline(time.Now().Add(time.Second))
			buf := make([]byte, 512)
			for {
				if _, err := tc.Read(buf); err != nil {
					break
				}
			}
			tc.Close()
		}()
	default:
		c.Close()
	}
}

type countedConn struct {
	net.Conn
	l    *capListener
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

// Package notifytest has fakes for delivery tests: an in-memory network so
// HTTP fakes run inside testing/synctest bubbles, a recording receiver, a
// recording dead-letter sink, and connection-level misbehaviour.
package notifytest

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// PipeNet is an in-memory network: a listener whose connections are
// net.Pipe ends. Goroutines blocked on them are durably blocked, so HTTP
// servers and clients on a PipeNet run inside a synctest bubble and fake
// time advances past their timeouts, Retry-After waits and backoffs.
type PipeNet struct {
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

var _ net.Listener = (*PipeNet)(nil)

// NewPipeNet returns an open PipeNet.
func NewPipeNet() *PipeNet {
	return &PipeNet{conns: make(chan net.Conn), closed: make(chan struct{})}
}

// Accept implements net.Listener.
func (p *PipeNet) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.closed:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (p *PipeNet) Close() error {
	p.once.Do(func() { close(p.closed) })
	return nil
}

// Addr implements net.Listener.
func (p *PipeNet) Addr() net.Addr { return pipeAddr{} }

// DialContext connects to the listener.
func (p *PipeNet) DialContext(ctx context.Context, _, _ string) (net.Conn, error) {
	srv, cli := net.Pipe()
	select {
	case p.conns <- srv:
		return cli, nil
	case <-p.closed:
		return nil, errors.New("pipenet: connection refused")
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// ServePipe serves h on a new PipeNet until the test ends and returns a
// client for it (with timeout per request) and its base URL.
func ServePipe(tb testing.TB, h http.Handler, timeout time.Duration) (*http.Client, string) {
	tb.Helper()
	pn := NewPipeNet()
	srv := &http.Server{Handler: h}
	go func() { _ = srv.Serve(pn) }()
	tr := &http.Transport{DialContext: pn.DialContext}
	tb.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = srv.Close()
	})
	return &http.Client{Transport: tr, Timeout: timeout}, "http://fake.invalid"
}

// Reset aborts the request's connection without a response: a TCP
// connection is reset (RST), a pipe is closed.
func Reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic("notifytest.Reset: response writer cannot be hijacked")
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic("notifytest.Reset: " + err.Error())
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

package opshttp_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/opshttp"
)

func listen(t *testing.T, h http.Handler, l opshttp.Limits) *opshttp.Listener {
	t.Helper()
	s, err := opshttp.Listen("127.0.0.1:0", h, l, prometheus.NewRegistry(), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return s
}

// bodyReader answers 408 when reading the body fails on the server's
// deadline, as ingest does, and 200 otherwise.
var bodyReader = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if _, err := io.ReadAll(r.Body); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			http.Error(w, "body too slow", http.StatusRequestTimeout)
			return
		}
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
})

// TestSlowBodyIsCutOff: a client that sends its headers and then trickles
// a large body gets 408 once the read timeout passes, instead of holding
// the connection (and a growing buffer) for as long as it likes.
func TestSlowBodyIsCutOff(t *testing.T) {
	l := opshttp.DefaultLimits()
	l.ReadHeaderTimeout, l.ReadTimeout = 200*time.Millisecond, 300*time.Millisecond
	s := listen(t, bodyReader, l)
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() { // one byte every 50ms: 1 MB would take 14 hours
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
			}
		}
	}()
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second)) // a test deadline, not a speed assertion
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer to a slow body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", resp.StatusCode)
	}
}

// TestSlowHeadersAreCutOff: a client that never finishes its headers is
// disconnected after the header timeout.
func TestSlowHeadersAreCutOff(t *testing.T) {
	l := opshttp.DefaultLimits()
	l.ReadHeaderTimeout, l.ReadTimeout = 200*time.Millisecond, 300*time.Millisecond
	s := listen(t, bodyReader, l)
	c, err := net.Dial("tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST /x HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.ReadAll(c); err != nil {
		t.Fatalf("connection not closed by the server: %v", err)
	}
}

// TestConnectionCap: 1 000 clients connect at once and hold their
// connections; the server keeps MaxConns of them and answers every other
// one 503 with Retry-After at once; a connection freed is usable again.
func TestConnectionCap(t *testing.T) {
	const clients, max = 1000, 50
	l := opshttp.DefaultLimits()
	l.MaxConns = max
	s := listen(t, bodyReader, l)
	var (
		mu      sync.Mutex
		held    []net.Conn
		refused int
		wg      sync.WaitGroup
	)
	for range clients {
		wg.Go(func() {
			c, err := net.Dial("tcp", s.Addr().String())
			if err != nil {
				t.Error(err)
				return
			}
			// Held connections send nothing; refused ones are answered
			// without a request.
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				held = append(held, c)
				return
			}
			defer c.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "too many connections") {
				t.Errorf("refusal %d %v %q", resp.StatusCode, resp.Header, body)
			}
			refused++
		})
	}
	wg.Wait()
	t.Logf("%d connections held, %d refused with 503", len(held), refused)
	if len(held) != max || refused != clients-max || s.Refused() != int64(refused) {
		t.Fatalf("held %d, refused %d (counted %d); want %d and %d", len(held), refused, s.Refused(), max, clients-max)
	}
	for _, c := range held {
		c.Close()
	}
	// Once the held connections close, requests are served again.
	bustestEventually(t, func() bool {
		resp, err := http.Post("http://"+s.Addr().String()+"/x", "text/plain", strings.NewReader("hi"))
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func bustestEventually(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLimitsValidate(t *testing.T) {
	l := opshttp.DefaultLimits()
	if err := l.Validate(); err != nil {
		t.Fatal(err)
	}
	l.ReadTimeout, l.MaxConns, l.MaxHeaderBytes = 0, 0, 10
	err := l.Validate()
	for _, want := range []string{"read timeout 0s", "max connections 0", "max header bytes 10"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("got %v, want %q", err, want)
		}
	}
}

package ingest

import (
	"context"
	"fmt"
	"net"
	"net/http"
)

// admit takes the request's share of MaxInFlightBytes, waiting in order up
// to QueueWait: a burst of clients queues instead of being refused, and
// the bodies held in memory at once stay bounded. It returns the share's
// release, or why the request is refused (413 for a declared body over
// MaxBytes, 503 when no room came in time).
func (h *Handler) admit(r *http.Request) (func(), *httpError) {
	n := r.ContentLength
	if n > h.opts.MaxBytes {
		return nil, &httpError{status: http.StatusRequestEntityTooLarge, outcome: "too_large",
			msg: fmt.Sprintf("request body of %d bytes over the limit of %d bytes", n, h.opts.MaxBytes)}
	}
	if n < 0 {
		n = h.opts.MaxBytes // unknown length: room for the largest
	}
	n = max(n, 1)
	if h.inFlight.TryAcquire(n) {
		return func() { h.inFlight.Release(n) }, nil
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.QueueWait)
	defer cancel()
	if err := h.inFlight.Acquire(ctx, n); err != nil {
		return nil, &httpError{status: http.StatusServiceUnavailable, outcome: "busy",
			msg:    fmt.Sprintf("ingest busy: %d bytes of requests in progress and no room within %s; nothing stored, retry", h.opts.MaxInFlightBytes, h.opts.QueueWait),
			header: http.Header{"Retry-After": {"1"}}}
	}
	return func() { h.inFlight.Release(n) }, nil
}

// CheckExposure refuses to serve ingest without a bearer token on an
// address beyond loopback: on a node's address every pod of the node (and
// anything routed to it) could post events for the node, and Kubernetes
// NetworkPolicies do not apply to the collector's host network.
func CheckExposure(addr, token string) error {
	if token != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err == nil {
		if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
			return nil
		}
	}
	return fmt.Errorf("ingest on %s: reachable beyond this host, so it needs a bearer token (--ingest-token, or $AFTERSHOCK_INGEST_TOKEN from a Secret); without one any pod could post events as this node", addr)
}

// Package ingest accepts events over HTTP and stores them in JetStream:
// CloudEvents from applications (POST /v1/events) and Prometheus
// Alertmanager webhooks (POST /v1/alertmanager). The collector mounts it on
// its ops server so apps can call their node's agent; the router can mount
// the same handler centrally.
package ingest

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/semaphore"
	"golang.org/x/time/rate"
)

// Options configure a Handler. Defaults fills zero fields in one place.
type Options struct {
	// JS is where events are stored (stream EVENTS).
	JS jetstream.JetStream
	// Token, when set, is the bearer token every request must carry.
	Token string
	// MaxBytes bounds a request body; larger requests get 413.
	MaxBytes int64
	// MaxBatch bounds the events of one batch (JetStream's atomic batch
	// limit is 1000 by default).
	MaxBatch int
	// Rate limits accepted events per second across all clients (0: no
	// limit); Burst is the bucket size and must fit the largest batch.
	Rate  float64
	Burst int
	// PublishTimeout bounds storing one request's events.
	PublishTimeout time.Duration
	// MaxInFlightBytes bounds the memory of the requests being read,
	// checked and stored at once: each takes its Content-Length (MaxBytes
	// when it gives none) until it is answered. Others wait up to
	// QueueWait, in order, then get 503 with Retry-After. Defaults: 64 MiB,
	// and 8 MiB for a node's agent (Local).
	MaxInFlightBytes int64
	QueueWait        time.Duration
	// MaxAtomicBatches bounds the atomic batches this handler has open on
	// the server at once (default 4). Requests' batches queued meanwhile
	// are sent together as one (group commit), so a burst costs the server
	// a few batches; NATS allows 50 open per stream for all publishers
	// together and refuses more with "atomic publish too many inflight",
	// which the handler waits out instead of refusing the request.
	MaxAtomicBatches int
	// Cluster and Node are used for Alertmanager alerts whose labels name
	// neither (see ClusterLabels, NodeLabels).
	Cluster string
	Node    string
	// Local makes the handler a node's own agent (the collector): events
	// that name no cluster or node get Cluster and Node, and events naming
	// another node are refused with 400 at once (the node's NATS user could
	// not store them). Alertmanager webhooks, which speak for many nodes, are
	// not served; they go to the router's ingest.
	Local bool
	// ClusterLabels and NodeLabels are the alert labels tried, in order, for
	// the event's cluster and node.
	ClusterLabels []string
	NodeLabels    []string
	// Registry receives the ingest counters (nil: not exported).
	Registry prometheus.Registerer
	Log      *slog.Logger
}

// Defaults fills zero fields.
func (o *Options) Defaults() {
	if o.MaxBytes == 0 {
		o.MaxBytes = 1 << 20
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = 500
	}
	if o.Burst == 0 {
		o.Burst = max(o.MaxBatch, int(math.Ceil(o.Rate)))
	}
	if o.PublishTimeout == 0 {
		o.PublishTimeout = 5 * time.Second
	}
	if o.MaxInFlightBytes == 0 {
		o.MaxInFlightBytes = 64 << 20
		if o.Local {
			o.MaxInFlightBytes = 8 << 20
		}
	}
	if o.QueueWait == 0 {
		o.QueueWait = o.PublishTimeout
	}
	if o.MaxAtomicBatches == 0 {
		o.MaxAtomicBatches = 4
	}
	if o.Cluster == "" {
		o.Cluster = "default"
	}
	if o.Node == "" {
		o.Node = "alertmanager"
	}
	if o.ClusterLabels == nil {
		o.ClusterLabels = []string{"cluster"}
	}
	if o.NodeLabels == nil {
		o.NodeLabels = []string{"node", "kubernetes_node", "nodename"}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate names every bad field.
func (o *Options) Validate() error {
	var errs []error
	if o.JS == nil {
		errs = append(errs, errors.New("ingest: no JetStream connection"))
	}
	if o.MaxBytes < 1024 {
		errs = append(errs, fmt.Errorf("ingest max bytes %d: must be at least 1024", o.MaxBytes))
	}
	if o.MaxBatch < 1 || o.MaxBatch > 1000 {
		errs = append(errs, fmt.Errorf("ingest max batch %d: must be 1..1000 (JetStream's atomic batch limit)", o.MaxBatch))
	}
	if o.Rate < 0 {
		errs = append(errs, fmt.Errorf("ingest rate %g: must not be negative", o.Rate))
	}
	if o.Rate > 0 && o.Burst < o.MaxBatch {
		errs = append(errs, fmt.Errorf("ingest burst %d: must be at least the max batch %d, or a full batch could never pass", o.Burst, o.MaxBatch))
	}
	if o.PublishTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("ingest publish timeout %s: must be at least 100ms", o.PublishTimeout))
	}
	if o.MaxInFlightBytes < o.MaxBytes {
		errs = append(errs, fmt.Errorf("ingest max in-flight bytes %d: must be at least the max bytes %d, or a largest request could never pass", o.MaxInFlightBytes, o.MaxBytes))
	}
	if o.QueueWait < 0 {
		errs = append(errs, fmt.Errorf("ingest queue wait %s: must not be negative", o.QueueWait))
	}
	if o.MaxAtomicBatches < 1 || o.MaxAtomicBatches > 50 {
		errs = append(errs, fmt.Errorf("ingest max atomic batches %d: must be 1..50 (NATS's default limit per stream)", o.MaxAtomicBatches))
	}
	if strings.ContainsAny(o.Token, " \t\r\n") {
		errs = append(errs, errors.New("ingest token: must not contain whitespace"))
	}
	return errors.Join(errs...)
}

// Handler serves the ingest endpoints.
type Handler struct {
	opts     Options
	limiter  *rate.Limiter
	store    *store
	inFlight *semaphore.Weighted
	m        *metrics
	now      func() time.Time
}

// New checks opts and returns a handler; Mount adds it to a mux.
func New(opts Options) (*Handler, error) {
	opts.Defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	h := &Handler{opts: opts, now: time.Now, m: newMetrics(opts.Registry)}
	if opts.Rate > 0 {
		h.limiter = rate.NewLimiter(rate.Limit(opts.Rate), opts.Burst)
	}
	h.store = &store{js: opts.JS, log: opts.Log}
	h.store.batches = newBatcher(h.store.publishBatch, opts.MaxAtomicBatches, maxAtomicBatch, opts.PublishTimeout)
	h.inFlight = semaphore.NewWeighted(opts.MaxInFlightBytes)
	return h, nil
}

// maxAtomicBatch is the most messages NATS takes in one atomic batch (its
// default max_batch_size), and so in one coalesced batch.
const maxAtomicBatch = 1000

// Paths of the endpoints.
const (
	PathEvents       = "/v1/events"
	PathAlertmanager = "/v1/alertmanager"
)

// Mount registers the endpoints on mux (POST only; the mux answers 405 to
// other methods).
func (h *Handler) Mount(mux *http.ServeMux) {
	mux.Handle("POST "+PathEvents, h.endpoint("events", h.events))
	if !h.opts.Local {
		mux.Handle("POST "+PathAlertmanager, h.endpoint("alertmanager", h.alertmanager))
	}
}

// Problem is one rejected event or alert: its index in the request (0 for a
// single event), its id when known, and why.
type Problem struct {
	Index  int    `json:"index"`
	ID     string `json:"id,omitempty"`
	Reason string `json:"reason"`
}

// Response is the JSON body of every answer.
type Response struct {
	// Stored is the number of events stored (202), including those already
	// stored by an earlier try.
	Stored int      `json:"stored,omitempty"`
	IDs    []string `json:"ids,omitempty"`
	Error  string   `json:"error,omitempty"`
	// Problems lists each bad event of a 400; nothing was stored.
	Problems []Problem `json:"problems,omitempty"`
	// StoredUnknown, on a 503, says the events may have been stored (all,
	// or some: the server did not answer in time, or a fallback stored
	// them one by one and failed part-way). Retrying is safe either way:
	// each event is stored once by its id within the stream's duplicate
	// window. Without it a 503 stored nothing.
	StoredUnknown bool `json:"stored_unknown,omitempty"`
}

// httpError is a failure with its status; the handlers return it.
type httpError struct {
	status   int
	outcome  string
	msg      string
	problems []Problem
	header   http.Header
	unknown  bool
}

func (e *httpError) Error() string { return e.msg }

func badRequest(msg string, problems ...Problem) *httpError {
	return &httpError{status: http.StatusBadRequest, outcome: "invalid", msg: msg, problems: problems}
}

// parseFunc turns a body into the messages to store.
type parseFunc func(r *http.Request, body []byte) ([]*pending, *httpError)

// endpoint wraps a parser with auth, the size limit, the rate limit, storing
// and the answer.
func (h *Handler) endpoint(name string, parse parseFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, herr := h.serve(r, parse)
		if herr != nil {
			h.m.requests.WithLabelValues(name, herr.outcome).Inc()
			if res.n > 0 {
				h.m.events.WithLabelValues(name, herr.outcome).Add(float64(res.n))
			}
			for k, v := range herr.header {
				w.Header()[k] = v
			}
			writeJSON(w, herr.status, Response{Error: herr.msg, Problems: herr.problems, StoredUnknown: herr.unknown})
			return
		}
		h.m.requests.WithLabelValues(name, "stored").Inc()
		h.m.events.WithLabelValues(name, "stored").Add(float64(len(res.ids)))
		writeJSON(w, http.StatusAccepted, Response{Stored: len(res.ids), IDs: res.ids})
	})
}

// serve returns the stored ids, or an error and how many events it concerned.
func (h *Handler) serve(r *http.Request, parse parseFunc) (result, *httpError) {
	if err := h.authorize(r); err != nil {
		return result{}, err
	}
	release, herr := h.admit(r)
	if herr != nil {
		return result{}, herr
	}
	defer release()
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, h.opts.MaxBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			return result{}, &httpError{status: http.StatusRequestEntityTooLarge, outcome: "too_large",
				msg: fmt.Sprintf("request body over the limit of %d bytes", mbe.Limit)}
		case errors.Is(err, os.ErrDeadlineExceeded):
			return result{}, &httpError{status: http.StatusRequestTimeout, outcome: "too_slow",
				msg: "request body not received within the server's read timeout; nothing stored"}
		}
		return result{}, badRequest("read body: " + err.Error())
	}
	msgs, herr := parse(r, body)
	if herr != nil {
		return result{n: len(herr.problems)}, herr
	}
	if len(msgs) > h.opts.MaxBatch {
		return result{n: len(msgs)}, badRequest(fmt.Sprintf("%d events in one request, limit %d", len(msgs), h.opts.MaxBatch))
	}
	if herr := h.allow(len(msgs)); herr != nil {
		return result{n: len(msgs)}, herr
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.opts.PublishTimeout)
	defer cancel()
	if err := h.store.put(ctx, msgs); err != nil {
		unknown := maybeStored(err)
		h.opts.Log.Warn("ingest: events not stored", "events", len(msgs), "stored_unknown", unknown, "err", err)
		msg := "events not stored, retry: " + err.Error()
		if unknown {
			msg = "events may have been stored (all or some), retry: each is stored once by its id: " + err.Error()
		}
		return result{n: len(msgs)}, &httpError{status: http.StatusServiceUnavailable, outcome: "unavailable",
			msg: msg, unknown: unknown, header: http.Header{"Retry-After": {"1"}}}
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		ids[i] = m.id
	}
	return result{ids: ids}, nil
}

type result struct {
	ids []string
	n   int
}

func (h *Handler) authorize(r *http.Request) *httpError {
	if h.opts.Token == "" {
		return nil
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if ok && subtle.ConstantTimeCompare([]byte(got), []byte(h.opts.Token)) == 1 {
		return nil
	}
	return &httpError{status: http.StatusUnauthorized, outcome: "unauthorized",
		msg:    "missing or wrong bearer token",
		header: http.Header{"Www-Authenticate": {`Bearer realm="aftershock"`}}}
}

// allow takes n events from the rate limit, or says when to retry.
func (h *Handler) allow(n int) *httpError {
	if h.limiter == nil {
		return nil
	}
	now := h.now()
	res := h.limiter.ReserveN(now, n)
	if !res.OK() {
		return &httpError{status: http.StatusTooManyRequests, outcome: "rate_limited",
			msg: fmt.Sprintf("%d events exceed the burst of %d", n, h.opts.Burst)}
	}
	if d := res.DelayFrom(now); d > 0 {
		res.CancelAt(now)
		secs := int(math.Ceil(d.Seconds()))
		return &httpError{status: http.StatusTooManyRequests, outcome: "rate_limited",
			msg:    fmt.Sprintf("rate limit of %g events/s reached", h.opts.Rate),
			header: http.Header{"Retry-After": {strconv.Itoa(secs)}}}
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v Response) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

type metrics struct {
	requests *prometheus.CounterVec
	events   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_ingest_requests_total",
			Help: "Ingest requests by endpoint and outcome (stored, invalid, too_large, too_slow, unauthorized, rate_limited, busy, unavailable).",
		}, []string{"endpoint", "outcome"}),
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_ingest_events_total",
			Help: "Events in ingest requests by endpoint and outcome.",
		}, []string{"endpoint", "outcome"}),
	}
	if reg != nil {
		reg.MustRegister(m.requests, m.events)
	}
	return m
}

// Package outbox stores what the router produces in JetStream: alerts on
// ALERTS and dead letters on DLQ. It is the one place that publishes with a
// deduplication id, tells errors worth retrying from errors that are final
// (over the max payload, refused by the stream), retries the first kind and
// dead-letters the second, and names the headers every dead letter carries.
package outbox

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Headers of every dead letter (dlq.events, dlq.alerts, dlq.notify.*).
const (
	// HeaderReason says why the message could not be processed or stored.
	HeaderReason = "Aftershock-Reason"
	// HeaderSubject and HeaderSeq say where it came from (the seq is
	// absent for messages that were never stored).
	HeaderSubject = "Aftershock-Original-Subject"
	HeaderSeq     = "Aftershock-Original-Seq"
	// HeaderReceiver and HeaderAttempts describe an undelivered
	// notification.
	HeaderReceiver = "Aftershock-Receiver"
	HeaderAttempts = "Aftershock-Attempts"
	// HeaderTruncated holds the original size of a body cut to fit.
	HeaderTruncated = "Aftershock-Truncated"
)

// maxReason bounds the reason header: it is for people and logs.
const maxReason = 500

// Letter is a message that could not be processed or stored, with why.
type Letter struct {
	// Subject is where it goes (dlq.events, dlq.alerts, …).
	Subject string
	// ID deduplicates retries of the same dead letter.
	ID     string
	Data   []byte
	Reason string
	// From is the subject it was published on, and Seq its stream
	// sequence (0: it was never stored).
	From string
	Seq  uint64
	// Header adds more headers (the receiver of a notification).
	Header map[string]string
}

// Msg builds the message, cutting the body to limit bytes when it is
// larger (0: no limit), so a message refused for its size can still be
// dead-lettered: its head says what it was.
func (l Letter) Msg(limit int) *nats.Msg {
	m := nats.NewMsg(l.Subject)
	m.Data = l.Data
	m.Header.Set(HeaderReason, cut(l.Reason, maxReason))
	if l.From != "" {
		m.Header.Set(HeaderSubject, l.From)
	}
	if l.Seq > 0 {
		m.Header.Set(HeaderSeq, strconv.FormatUint(l.Seq, 10))
	}
	for k, v := range l.Header {
		m.Header.Set(k, v)
	}
	if limit > 0 && len(m.Data) > limit {
		m.Header.Set(HeaderTruncated, strconv.Itoa(len(m.Data)))
		m.Data = m.Data[:limit]
	}
	return m
}

// cut shortens s to at most n bytes on a rune boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// Publisher is the part of jetstream.JetStream a synchronous publish needs.
type Publisher interface {
	PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error)
}

// Permanent reports whether a publish error is final: the client refused
// the message (over the server's max payload) or the stream did (a 4xx
// API error: over its maximum message size, a wrong expected sequence).
// Everything else (no responders, timeouts, a lost connection, a stream
// leader moving) is worth retrying.
func Permanent(err error) bool {
	if errors.Is(err, nats.ErrMaxPayload) || errors.Is(err, nats.ErrBadSubject) || errors.Is(err, jetstream.ErrAsyncPublishReplySubjectSet) {
		return true
	}
	var api *jetstream.APIError
	return errors.As(err, &api) && api.Code >= 400 && api.Code < 500
}

// Retry bounds the waits between attempts of a publish.
type Retry struct {
	// Min is the first wait, doubled after each failure up to Max.
	Min, Max time.Duration
	// Timeout bounds each attempt.
	Timeout time.Duration
}

// DefaultRetry waits 100 ms, then up to 5 s, and gives each attempt 5 s.
var DefaultRetry = Retry{Min: 100 * time.Millisecond, Max: 5 * time.Second, Timeout: 5 * time.Second}

func (r Retry) withDefaults() Retry {
	if r.Min <= 0 {
		r.Min = DefaultRetry.Min
	}
	if r.Max < r.Min {
		r.Max = max(r.Min, DefaultRetry.Max)
	}
	if r.Timeout <= 0 {
		r.Timeout = DefaultRetry.Timeout
	}
	return r
}

// Publish stores m with id as its Nats-Msg-Id (so a retry is stored once),
// retrying transient failures until ctx ends; onRetry (may be nil) hears
// of each failure before the wait. A permanent failure (see Permanent)
// returns at once.
func Publish(ctx context.Context, js Publisher, m *nats.Msg, id string, r Retry, onRetry func(error)) error {
	r = r.withDefaults()
	wait := r.Min
	for {
		actx, cancel := context.WithTimeout(ctx, r.Timeout)
		_, err := js.PublishMsg(actx, copyMsg(m), jetstream.WithMsgID(id))
		cancel()
		switch {
		case err == nil:
			return nil
		case Permanent(err):
			return fmt.Errorf("publish %s to %s: %w", id, m.Subject, err)
		case ctx.Err() != nil:
			return fmt.Errorf("publish %s to %s: %w (last error: %w)", id, m.Subject, ctx.Err(), err)
		}
		if onRetry != nil {
			onRetry(err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("publish %s to %s: %w (last error: %w)", id, m.Subject, ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, r.Max)
	}
}

// copyMsg gives each attempt a message of its own: the client sets
// headers and reply subjects on what it sends.
func copyMsg(m *nats.Msg) *nats.Msg {
	c := &nats.Msg{Subject: m.Subject, Data: m.Data}
	if len(m.Header) > 0 {
		c.Header = make(nats.Header, len(m.Header)+1)
		for k, v := range m.Header {
			c.Header[k] = append([]string(nil), v...)
		}
	}
	return c
}

// DeadLetter stores l, retrying until ctx ends; the body is cut to fit
// limit (see Letter.Msg).
func DeadLetter(ctx context.Context, js Publisher, l Letter, limit int, r Retry, onRetry func(error)) error {
	if err := Publish(ctx, js, l.Msg(limit), l.ID, r, onRetry); err != nil {
		return fmt.Errorf("dead letter: %w", err)
	}
	return nil
}

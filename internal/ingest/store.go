package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// store puts a request's events into JetStream, all or nothing.
//
// One event is a plain publish with its id as Nats-Msg-Id. Several are one
// JetStream atomic batch (ADR-50; EVENTS is provisioned with
// allow_atomic): the server stores every event or none, so a NATS failure
// leaves nothing half-stored and the client's retry stores the batch once.
// Concurrent requests' batches are coalesced (batcher), and a batch the
// server refuses for having too many open (its limit is shared by every
// publisher) is tried again until the deadline: a burst is absorbed, not
// refused.
//
// Two cases fall back to publishing one by one, each with its Nats-Msg-Id:
// the server rejects a whole batch that contains an id it already stored
// (a retry after a lost 202), and streams provisioned before atomic publish
// was enabled refuse batches. Deduplication still stores each event once; a
// failure part-way answers 503 saying some may be stored, and the retry
// completes the rest.
type store struct {
	js       jetstream.JetStream
	log      *slog.Logger
	batches  *batcher
	warnOnce atomic.Bool
}

// storeError is a failure to store; maybe says the events may have been
// stored anyway (all or some).
type storeError struct {
	err   error
	maybe bool
}

func (e *storeError) Error() string { return e.err.Error() }
func (e *storeError) Unwrap() error { return e.err }

// maybeStored reports whether a put error leaves the events' fate unknown.
func maybeStored(err error) bool {
	var se *storeError
	return errors.As(err, &se) && se.maybe
}

// errNotConnected: nothing was sent. nats.go would buffer a publish made
// while reconnecting and send it later, so a 503 could not say "not
// stored"; the handler refuses instead.
var errNotConnected = errors.New("not connected to NATS; nothing sent")

func (s *store) put(ctx context.Context, ps []*pending) error {
	if nc := s.js.Conn(); nc != nil && !nc.IsConnected() {
		return &storeError{err: errNotConnected}
	}
	msgs := make([]*nats.Msg, len(ps))
	for i, p := range ps {
		m := nats.NewMsg(p.subject)
		m.Data = p.data
		m.Header.Set(jetstream.MsgIDHeader, p.id)
		msgs[i] = m
	}
	if len(msgs) == 1 {
		return s.one(ctx, msgs[0])
	}
	err := s.batches.put(ctx, msgs)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstreamext.ErrBatchPublishDuplicateMsgID):
		// Some of these events are already stored: complete the rest.
	case errors.Is(err, jetstreamext.ErrBatchPublishNotEnabled):
		if s.warnOnce.CompareAndSwap(false, true) {
			s.log.Warn("ingest: stream refuses atomic batches; storing events one by one (start a router to update EVENTS)")
		}
	case maybeStored(err) || errors.As(err, new(*storeError)):
		return err
	default:
		return &storeError{err: fmt.Errorf("atomic batch of %d events: %w", len(msgs), err), maybe: unanswered(err)}
	}
	for i, m := range msgs {
		for _, h := range []string{jetstreamext.BatchIDHeader, jetstreamext.BatchSeqHeader, jetstreamext.BatchCommitHeader} {
			m.Header.Del(h)
		}
		m.Reply = ""
		if err := s.one(ctx, m); err != nil {
			if i > 0 {
				return &storeError{err: fmt.Errorf("%d of %d events stored one by one: %w", i, len(msgs), err), maybe: true}
			}
			return err
		}
	}
	return nil
}

// publishBatch sends msgs as one atomic batch.
func (s *store) publishBatch(ctx context.Context, msgs []*nats.Msg) error {
	for _, m := range msgs {
		m.Reply = "" // set on the first message by an earlier try
	}
	// The first message's ack (which tells early whether the stream takes
	// atomic batches, and whether it has room) waits no longer than the
	// batch may.
	fc := jetstreamext.BatchFlowControl{AckFirst: true, AckTimeout: 5 * time.Second}
	if dl, ok := ctx.Deadline(); ok {
		fc.AckTimeout = max(time.Until(dl), time.Millisecond)
	}
	_, err := jetstreamext.PublishMsgBatch(ctx, s.js, msgs, fc)
	return err
}

func (s *store) one(ctx context.Context, m *nats.Msg) error {
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		return &storeError{err: fmt.Errorf("publish %s: %w", m.Header.Get(jetstream.MsgIDHeader), err), maybe: unanswered(err)}
	}
	return nil
}

// tooManyInflight is the server refusing another open atomic batch.
func tooManyInflight(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == jetstreamext.JSErrCodeAtomicPublishTooManyInflight
}

// unanswered reports a failure after which the server may have stored the
// message: it was sent but no answer came. A JetStream error answer, no
// responders, or a closed connection mean it was not stored.
func unanswered(err error) bool {
	var api *jetstream.APIError
	switch {
	case errors.As(err, &api), errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrConnectionClosed):
		return false
	}
	return true
}

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
//
// Two cases fall back to publishing one by one, each with its Nats-Msg-Id:
// the server rejects a whole batch that contains an id it already stored
// (a retry after a lost 202), and streams provisioned before atomic publish
// was enabled refuse batches. Deduplication still stores each event once; a
// failure part-way answers 503 and the retry completes the rest.
type store struct {
	js       jetstream.JetStream
	log      *slog.Logger
	warnOnce atomic.Bool
}

func (s *store) put(ctx context.Context, ps []*pending) error {
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
	// The first message's ack (which tells early whether the stream takes
	// atomic batches) waits no longer than the request may.
	fc := jetstreamext.BatchFlowControl{AckFirst: true, AckTimeout: 5 * time.Second}
	if dl, ok := ctx.Deadline(); ok {
		fc.AckTimeout = max(time.Until(dl), time.Millisecond)
	}
	_, err := jetstreamext.PublishMsgBatch(ctx, s.js, msgs, fc)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jetstreamext.ErrBatchPublishDuplicateMsgID):
		// Some of these events are already stored: complete the rest.
	case errors.Is(err, jetstreamext.ErrBatchPublishNotEnabled):
		if s.warnOnce.CompareAndSwap(false, true) {
			s.log.Warn("ingest: stream refuses atomic batches; storing events one by one (start a router to update EVENTS)")
		}
	default:
		return fmt.Errorf("atomic batch of %d events: %w", len(msgs), err)
	}
	for _, m := range msgs {
		for _, h := range []string{jetstreamext.BatchIDHeader, jetstreamext.BatchSeqHeader, jetstreamext.BatchCommitHeader} {
			m.Header.Del(h)
		}
		m.Reply = ""
		if err := s.one(ctx, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *store) one(ctx context.Context, m *nats.Msg) error {
	if _, err := s.js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("publish %s: %w", m.Header.Get(jetstream.MsgIDHeader), err)
	}
	return nil
}

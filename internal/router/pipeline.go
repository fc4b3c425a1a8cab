package router

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
)

// Dead-letter headers.
const (
	HeaderReason  = "Aftershock-Reason"
	HeaderSubject = "Aftershock-Original-Subject"
	HeaderSeq     = "Aftershock-Original-Seq"
)

func (r *Router) startEvents(ctx context.Context) error {
	return r.consume(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable:       r.opts.Consumer,
		Description:   "aftershock router: rule evaluation",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       r.opts.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 1024,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}, r.handleEvent)
}

// handleEvent decodes, evaluates and publishes; the event is acked only once
// its alerts are stored, so a crash anywhere before means redelivery, and
// the alerts' deterministic ids make that redelivery harmless.
func (r *Router) handleEvent(msg jetstream.Msg) {
	md, err := msg.Metadata()
	if err == nil {
		r.pending.Store(md.NumPending)
		// Windows are stateful: an event already processed (redelivered
		// after an ack timeout, or replayed by the rebuild) must not be
		// counted twice. The consumer delivers in stream order.
		if md.Sequence.Stream <= r.lastSeq.Load() {
			_ = msg.Ack()
			r.m.eventsDuplicate.Inc()
			return
		}
	}
	drill, err := event.IsDrill(msg.Subject())
	var ev *event.Event
	if err == nil {
		ev, err = event.Decode(msg.Data())
	}
	if err == nil {
		err = ev.CheckSubject(msg.Subject())
	}
	if err != nil {
		ctx, cancel := context.WithTimeout(context.Background(), r.opts.AckWait)
		defer cancel()
		r.deadLetter(ctx, msg, err)
		return
	}
	var arrival time.Time
	if md != nil {
		arrival = md.Timestamp
	}
	began := time.Now()
	alerts := r.engine.Process(ev, correlate.Meta{Drill: drill, Arrival: arrival})
	r.m.evalSeconds.Observe(time.Since(began).Seconds())
	if md != nil {
		r.lastSeq.Store(md.Sequence.Stream)
	}
	for _, a := range alerts {
		// The engine's state already holds this event, so redelivery
		// would count it twice: retry the publish in place instead.
		if !r.publishRetrying(r.runCtx, a, msg) {
			return // shutting down: unacked, reprocessed by the next start's rebuild
		}
	}
	if err := msg.Ack(); err != nil {
		r.log.Warn("ack event", "event", ev.ID, "err", err)
	}
	r.m.eventsOK.Inc()
}

func (r *Router) publishAlert(ctx context.Context, a *alert.Alert) error {
	b, err := a.Encode()
	if err != nil {
		return err
	}
	if _, err := r.conn.JS.PublishMsg(ctx, &nats.Msg{Subject: a.Subject(), Data: b}, jetstream.WithMsgID(a.ID)); err != nil {
		return fmt.Errorf("publish alert %s: %w", a.ID, err)
	}
	r.m.alerts.WithLabelValues(string(a.State), timeline(a.Drill)).Inc()
	return nil
}

func timeline(drill bool) string {
	if drill {
		return "drill"
	}
	return "live"
}

// deadLetter stores a bad event on dlq.events with the reason, then acks it:
// bad input never blocks the stream and is never lost.
func (r *Router) deadLetter(ctx context.Context, msg jetstream.Msg, reason error) {
	md, _ := msg.Metadata()
	seq := uint64(0)
	if md != nil {
		seq = md.Sequence.Stream
	}
	r.deadLetterAs(ctx, msg, msg.Subject(), seq, reason)
}

// deadLetterAs dead-letters msg as published on subject with EVENTS
// sequence seq (a partitioned stream stores it under another subject and
// sequence).
func (r *Router) deadLetterAs(ctx context.Context, msg jetstream.Msg, subject string, seq uint64, reason error) {
	dl := nats.NewMsg(bus.SubjectDLQEvents)
	dl.Data = msg.Data()
	dl.Header.Set(HeaderReason, reason.Error())
	dl.Header.Set(HeaderSubject, subject)
	dl.Header.Set(HeaderSeq, fmt.Sprint(seq))
	if _, err := r.conn.JS.PublishMsg(ctx, dl, jetstream.WithMsgID(fmt.Sprintf("dlq-events-%d", seq))); err != nil {
		r.log.Warn("dead-letter publish failed; will retry", "seq", seq, "err", err)
		r.m.events.WithLabelValues("retry").Inc()
		_ = msg.NakWithDelay(time.Second)
		return
	}
	r.log.Warn("event dead-lettered", "seq", seq, "subject", subject, "reason", reason.Error())
	if err := msg.Ack(); err != nil {
		r.log.Warn("ack dead-lettered event", "seq", seq, "err", err)
	}
	r.m.events.WithLabelValues("dead_letter").Inc()
}

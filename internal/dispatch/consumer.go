package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/outbox"
)

// SubjectDLQAlerts receives ALERTS messages that are not alerts.
const SubjectDLQAlerts = "dlq.alerts"

// Handler returns the ALERTS message handler: each alert is handed to the
// lifecycle and acked once its state is stored; a failed write naks it for
// redelivery, which the lifecycle recognises as a duplicate. A message that
// is not an alert the router published is counted
// (aftershock_lifecycle_rejected_total{store="ALERTS"}), stored on
// dlq.alerts with the reason, then acked.
func (d *Dispatcher) Handler(pub notify.Publisher, log *slog.Logger) jetstream.MessageHandler {
	return func(msg jetstream.Msg) {
		a, err := alert.Stored(msg.Subject(), msg.Headers().Get(jetstream.MsgIDHeader), msg.Data())
		if err != nil {
			d.m.rejected.WithLabelValues("ALERTS").Inc()
			deadLetterAlert(pub, log, msg, err)
			return
		}
		d.do(func() { d.ingest(a, msg.Data(), acker(msg, a, log)) })
	}
}

// acker acks the alert's message once its state is stored, or naks it
// for redelivery.
func acker(msg jetstream.Msg, a *alert.Alert, log *slog.Logger) func(error) {
	return func(err error) {
		if err != nil {
			log.Warn("alert state not stored; alert will be redelivered", "alert", a.ID, "err", err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
		if err := msg.Ack(); err != nil {
			log.Debug("ack alert", "alert", a.ID, "err", err)
		}
	}
}

func deadLetterAlert(pub notify.Publisher, log *slog.Logger, msg jetstream.Msg, reason error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var seq uint64
	if md, err := msg.Metadata(); err == nil {
		seq = md.Sequence.Stream
	}
	l := outbox.Letter{Subject: SubjectDLQAlerts, ID: fmt.Sprintf("dlq-alerts-%d", seq), Data: msg.Data(),
		Reason: reason.Error(), From: msg.Subject(), Seq: seq}
	if err := outbox.DeadLetter(ctx, pub, l, 0, outbox.DefaultRetry, nil); err != nil {
		log.Warn("dead-letter publish failed; will retry", "seq", seq, "err", err)
		_ = msg.NakWithDelay(time.Second)
		return
	}
	log.Warn("undecodable alert dead-lettered", "seq", seq, "subject", msg.Subject(), "reason", reason.Error())
	_ = msg.Ack()
}

package router

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
)

// startNotifier consumes ALERTS and hands each alert to the console
// receiver. The alert lifecycle and the remote receivers plug in here.
func (r *Router) startNotifier(ctx context.Context) error {
	return r.consume(ctx, bus.StreamAlerts, jetstream.ConsumerConfig{
		Durable:       r.opts.Consumer + "-notify",
		Description:   "aftershock router: alert delivery",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       r.opts.AckWait,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}, r.handleAlert)
}

func (r *Router) handleAlert(msg jetstream.Msg) {
	a, err := alert.Decode(msg.Data())
	if err != nil {
		r.log.Error("undecodable alert on ALERTS; skipping", "subject", msg.Subject(), "err", err)
		_ = msg.Term()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.AckWait)
	defer cancel()
	if err := r.console.Notify(ctx, a); err != nil {
		r.m.notified.WithLabelValues("console", "error").Inc()
		_ = msg.Nak()
		return
	}
	r.m.notified.WithLabelValues("console", "ok").Inc()
	_ = msg.Ack()
}

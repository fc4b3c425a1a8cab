package lane

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/outbox"
)

// handle evaluates one delivered event. It is acked once its alerts are
// stored; a crash before means redelivery, and the alerts' deterministic
// ids make that harmless. An event the engine already holds (redelivered
// after an ack timeout, or replayed by the rebuild) is not counted twice:
// the consumer delivers in stream order.
func (l *Lane) handle(msg jetstream.Msg) {
	md, err := metaOf(msg)
	if err != nil {
		l.log.Warn("event without metadata", "subject", msg.Subject(), "err", err)
		return
	}
	// Noted first: an event nakked below must hold back the acks of those
	// after it until it is done.
	acks := l.acks
	acks.deliver(md.stream, msg)
	if l.cfg.Pinned {
		l.notePin(msg)
	}
	if l.cfg.Pinned && l.engine.Load() != nil && l.gap(md) {
		if err := l.rebuild(l.ctx, "gap", msg); err != nil {
			l.log.Warn("lane rebuild failed; the event will be redelivered", "err", err)
			_ = msg.NakWithDelay(time.Second)
			return
		}
	}
	seq := md.stream
	l.mu.Lock()
	e := l.engine.Load()
	if e == nil { // released meanwhile: the next owner takes it
		l.mu.Unlock()
		_ = msg.Nak()
		return
	}
	l.nextDseq = max(l.nextDseq, md.consumer+1)
	l.pending.Store(md.pending)
	if seq <= l.lastSeq {
		l.mu.Unlock()
		if l.held.has(seq) {
			return // its first delivery is acked once its alerts are stored
		}
		l.count("duplicate") // before the ack: a reader that sees the consumer caught up sees the count
		acks.done(seq, msg)
		return
	}
	subject, eventsSeq := l.cfg.Source.published(msg, md)
	drill, err := event.IsDrill(subject)
	var ev *event.Event
	if err == nil {
		ev, err = event.Decode(msg.Data())
	}
	if err == nil {
		err = ev.CheckSubject(subject)
	}
	if l.cfg.Metrics.Lane != nil {
		l.cfg.Metrics.Lane.Inc()
	}
	if err != nil {
		l.mu.Unlock()
		l.deadLetter(acks, msg, subject, eventsSeq, seq, err)
		return
	}
	began := time.Now()
	alerts := e.Process(ev, correlate.Meta{Drill: drill, Arrival: md.timestamp})
	if l.cfg.Metrics.Eval != nil {
		l.cfg.Metrics.Eval.Observe(time.Since(began).Seconds())
	}
	l.lastSeq = seq
	l.mu.Unlock()
	if len(alerts) == 0 {
		l.count("ok")
		acks.done(seq, msg)
		return
	}
	l.held.add(seq, msg)
	if !l.cfg.Alerts.Send(l.ctx, alerts, func() { l.acked(acks, seq, msg, "ok") }) {
		l.held.remove(seq) // shutting down: redelivered to the next start, whose rebuild evaluates it
		l.gaveUp.Store(true)
	}
}

// gap reports whether deliveries went to another router since this one
// last saw the lane (it lost the pin for a while, or just took it over).
func (l *Lane) gap(md meta) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.nextDseq == 0 || md.consumer > l.nextDseq
}

// acked acks msg once what it produced is stored.
func (l *Lane) acked(acks *acks, seq uint64, msg jetstream.Msg, outcome string) {
	l.held.remove(seq)
	l.count(outcome)
	acks.done(seq, msg)
}

func (l *Lane) count(outcome string) {
	if c := l.outcomes[outcome]; c != nil {
		c.Inc()
	}
}

// deadLetter stores a bad event on dlq.events with the reason, then acks
// it: bad input never blocks the stream and is never lost. subject and
// eventsSeq are where it was published (a partitioned stream stores it
// under another subject and sequence).
func (l *Lane) deadLetter(acks *acks, msg jetstream.Msg, subject string, eventsSeq, seq uint64, reason error) {
	l.log.Warn("event dead-lettered", "seq", eventsSeq, "subject", subject, "reason", reason.Error())
	dl := outbox.Letter{
		Subject: bus.SubjectDLQEvents, ID: fmt.Sprintf("dlq-events-%d", eventsSeq),
		Data: msg.Data(), Reason: reason.Error(), From: subject, Seq: eventsSeq,
	}
	m := dl.Msg(0)
	l.held.add(seq, msg)
	ok := l.cfg.Alerts.Out.Send(l.ctx, []outbox.Item{{Subject: m.Subject, Data: m.Data, ID: dl.ID, Header: m.Header}}, func([]error) {
		l.acked(acks, seq, msg, "dead_letter")
	})
	if !ok {
		l.held.remove(seq)
		l.gaveUp.Store(true)
	}
}

// held are events whose alerts (or dead letter) are being stored: they are
// acked when stored, kept in progress while that takes long, and their
// redeliveries are not acked as duplicates meanwhile.
type held struct {
	mu sync.Mutex
	m  map[uint64]heldMsg
}

type heldMsg struct {
	msg   jetstream.Msg
	since time.Time
}

func (h *held) add(seq uint64, msg jetstream.Msg) {
	h.mu.Lock()
	h.m[seq] = heldMsg{msg, time.Now()}
	h.mu.Unlock()
}

func (h *held) remove(seq uint64) {
	h.mu.Lock()
	delete(h.m, seq)
	h.mu.Unlock()
}

func (h *held) has(seq uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := h.m[seq]
	return ok
}

// older lists the messages held for longer than d.
func (h *held) older(d time.Duration) []jetstream.Msg {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []jetstream.Msg
	for _, hm := range h.m {
		if time.Since(hm.since) > d {
			out = append(out, hm.msg)
		}
	}
	return out
}

// keepHeld tells the server that held events are still being worked on,
// so a slow store (NATS away) does not get them redelivered, until ctx
// ends; with AckAll, also the done events whose acks they hold back.
func (l *Lane) keepHeld(ctx context.Context) {
	every := max(l.cfg.AckWait/3, 100*time.Millisecond)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			var waiting []jetstream.Msg
			if l.acks.all { // the held ones, and the done ones behind them
				waiting = l.acks.waiting(every)
			} else {
				waiting = l.held.older(every)
			}
			for _, m := range waiting {
				_ = m.InProgress()
			}
		}
	}
}

// keepInProgress tells the server every interval that msg is still being
// worked on, until the returned stop is called.
func keepInProgress(msg jetstream.Msg, every time.Duration) (stop func()) {
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				_ = msg.InProgress()
			}
		}
	}()
	return func() { close(done) }
}

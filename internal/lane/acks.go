package lane

import (
	"cmp"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// acks acknowledges a lane's events. To the server an ack costs about what
// the delivery does: `nats bench js consume` takes 95 k msgs/s with an ack
// per message and 175 k with none, on the machine of docs/benchmarks.md.
// So a lane's consumer is made with AckAll, whose ack covers every event
// delivered before the one acked, and the lane acks once per batch (or
// after a short delay), and only an event before which every delivered
// event is done: its alerts stored, or nothing to store. An event whose
// alerts are still being stored holds back the acks of those after it,
// so a crash loses nothing more than with an ack per event; what it costs
// is redeliveries of done events, which the lane treats as duplicates.
//
// A consumer made by an earlier version keeps AckExplicit (the server
// does not change a consumer's ack policy): its events are acked one by
// one, as they were.
type acks struct {
	all   bool
	batch int
	delay time.Duration
	log   *slog.Logger

	mu      sync.Mutex
	q       []pending     // delivered, not acked, in stream order
	floor   uint64        // the last sequence acked
	ready   jetstream.Msg // the latest event every earlier one is done for
	readySq uint64
	readyN  int
	timer   *time.Timer
}

type pending struct {
	seq   uint64
	msg   jetstream.Msg
	done  bool
	since time.Time
}

// Batch and delay of a lane's acks: a batch well under MaxAckPending
// (1024) keeps the server delivering; the delay bounds how long a done
// event waits for its ack when traffic is light.
const (
	ackBatch = 256
	ackDelay = 5 * time.Millisecond
)

func newAcks(all bool, log *slog.Logger) *acks {
	return &acks{all: all, batch: ackBatch, delay: ackDelay, log: log}
}

func bySeq(p pending, seq uint64) int { return cmp.Compare(p.seq, seq) }

// deliver notes a delivery of seq; a redelivery replaces the message to
// ack with the latest one.
func (a *acks) deliver(seq uint64, msg jetstream.Msg) {
	if !a.all {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.covered(seq) {
		// Done already (a redelivery: its ack was late). Back in line as
		// not done, it would hold back every ack after it for good.
		return
	}
	i, found := slices.BinarySearchFunc(a.q, seq, bySeq)
	if found {
		a.q[i].msg = msg
		return
	}
	a.q = slices.Insert(a.q, i, pending{seq: seq, msg: msg, since: time.Now()})
}

// done acks seq, or lets a later ack cover it once every event delivered
// before it is done too.
func (a *acks) done(seq uint64, msg jetstream.Msg) {
	if !a.all {
		a.ack(msg, seq)
		return
	}
	a.mu.Lock()
	if seq <= a.floor {
		// A redelivery of an event acked already: our ack may have been
		// lost on the way, and this one covers only events acked before.
		a.mu.Unlock()
		a.ack(msg, seq)
		return
	}
	if a.covered(seq) {
		a.mu.Unlock()
		return // a redelivery of an event done already: the next ack covers it
	}
	i, found := slices.BinarySearchFunc(a.q, seq, bySeq)
	if !found {
		// Never noted as delivered: acking it would ack every event before
		// it, done or not. Left to its redelivery, which is noted.
		a.mu.Unlock()
		a.log.Error("event done but never noted as delivered; left unacked for its redelivery", "seq", seq)
		return
	}
	a.q[i].done = true
	n := 0
	for n < len(a.q) && a.q[n].done {
		a.ready, a.readySq = a.q[n].msg, a.q[n].seq
		n++
	}
	a.q = a.q[n:]
	a.readyN += n
	var now jetstream.Msg
	var nowSeq uint64
	switch {
	case a.readyN >= a.batch:
		now, nowSeq = a.take()
	case a.readyN > 0 && a.timer == nil:
		a.timer = time.AfterFunc(a.delay, a.flush)
	}
	a.mu.Unlock()
	if now != nil {
		a.ack(now, nowSeq)
	}
}

// covered reports whether an ack sent or about to be sent covers seq
// (a.mu held).
func (a *acks) covered(seq uint64) bool {
	return seq <= a.floor || a.ready != nil && seq <= a.readySq
}

// flush acks what is ready now.
func (a *acks) flush() {
	a.mu.Lock()
	msg, seq := a.take()
	a.mu.Unlock()
	if msg != nil {
		a.ack(msg, seq)
	}
}

// take hands over the ready ack (a.mu held).
func (a *acks) take() (jetstream.Msg, uint64) {
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	msg, seq := a.ready, a.readySq
	if msg != nil {
		a.floor = seq
	}
	a.ready, a.readySq, a.readyN = nil, 0, 0
	return msg, seq
}

func (a *acks) ack(msg jetstream.Msg, seq uint64) {
	if err := msg.Ack(); err != nil {
		a.log.Warn("ack event", "seq", seq, "err", err)
	}
}

// waiting lists the events delivered longer than d ago and not acked: the
// server redelivers them after AckWait unless told they are in progress.
func (a *acks) waiting(d time.Duration) []jetstream.Msg {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []jetstream.Msg
	for _, p := range a.q {
		if time.Since(p.since) > d {
			out = append(out, p.msg)
		}
	}
	return out
}

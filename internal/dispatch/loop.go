package dispatch

import (
	"context"
	"slices"
	"time"
)

// The loop owns the lifecycle's state: work comes to it as functions (do,
// and doUrgent for delivery outcomes and Close's steps), and the acker
// completes the store's writes in the order they were issued.

// closeGrace bounds how long Close waits for the deliveries in flight,
// then for the writes that record them.
const closeGrace = 10 * time.Second

// Close stops the queues and the loop. A graceful stop repeats nothing:
// the queues take no more notifications, those in flight end (a wait
// between retries is cut short), and their outcomes are logged before the
// loop stops. Notifications not yet delivered stay unsent in the store
// and go out after the next start (so does one still in flight after
// closeGrace: a crash, too, may repeat the last message).
func (d *Dispatcher) Close() {
	if d.cancel == nil {
		return
	}
	d.doUrgent(func() {
		d.closing = true
		for _, qr := range d.allQueues() {
			qr.q.Stop()
		}
	})
	stopped := make(chan struct{})
	go func() { d.qwg.Wait(); close(stopped) }()
	grace := time.NewTimer(closeGrace)
	defer grace.Stop()
	select {
	case <-stopped:
	case <-grace.C:
		d.log.Warn("deliveries still in flight at stop: they are sent again after the next start", "waited", closeGrace)
		d.doUrgent(func() {
			for _, qr := range d.allQueues() {
				qr.cancel()
			}
		})
		<-stopped
	}
	// Issued after every outcome the queues reported (urgent is in
	// order), confirmed after every write before it (the acker waits in
	// order).
	written := make(chan struct{})
	d.doUrgent(func() { d.track(issued{}, func(error) { close(written) }) })
	grace.Reset(closeGrace)
	select {
	case <-written:
	case <-grace.C:
		d.log.Warn("alert state writes not confirmed at stop", "waited", closeGrace)
	}
	d.cancel()
	close(d.quit)
	d.wg.Wait()
	d.cancel = nil
}

// issued is a Pending with nothing to wait for.
type issued struct{}

func (issued) Wait(context.Context) error { return nil }

// allQueues lists the current and the retired queues (on the loop).
func (d *Dispatcher) allQueues() []*queueRun {
	qs := slices.Clone(d.retired)
	for _, qr := range d.queues {
		qs = append(qs, qr)
	}
	return qs
}

// do runs f on the loop; after Close it is dropped.
func (d *Dispatcher) do(f func()) {
	select {
	case d.in <- f:
	case <-d.quit:
	}
}

// doUrgent runs f on the loop before what do queued.
func (d *Dispatcher) doUrgent(f func()) {
	select {
	case d.urgent <- f:
	case <-d.quit:
	}
}

func (d *Dispatcher) loop(ctx context.Context) {
	sweep := time.NewTicker(d.o.SweepEvery)
	defer sweep.Stop()
	for {
		select {
		case f := <-d.urgent:
			f()
			continue
		default:
		}
		select {
		case f := <-d.urgent:
			f()
		case f := <-d.in:
			f()
		case <-sweep.C:
			d.sweep(time.Now())
		case <-ctx.Done():
			for _, g := range d.groups {
				g.stop()
			}
			return
		}
	}
}

// acker completes writes in the order they were issued.
func (d *Dispatcher) acker(ctx context.Context) {
	for {
		select {
		case a := <-d.acks:
			err := a.p.Wait(ctx)
			if ctx.Err() != nil {
				return
			}
			if a.cb != nil {
				a.cb(err)
			}
		case <-ctx.Done():
			return
		}
	}
}

func (d *Dispatcher) track(p Pending, cb func(error)) {
	select {
	case d.acks <- ack{p, cb}:
	case <-d.quit:
	}
}

func (d *Dispatcher) logErr(what string) func(error) {
	return func(err error) {
		if err != nil {
			d.m.storeErrors.Inc()
			d.log.Warn("alert state write failed", "what", what, "err", err)
		}
	}
}

package collector

import (
	"context"
	"errors"
	"sync"

	"github.com/aftershock/aftershock/internal/event"
)

// publishQueue hands events to the spool from one goroutine, in order, so
// a source never waits for NATS. The spool publishes directly while it is
// empty and NATS seems connected; after NATS went away silently (no TCP
// error yet), that publish waits out its ack timeout before the spool keeps
// the event, and with every source calling the spool, all of them waited
// behind it (issue #16: 5 s). Now only this goroutine waits; sources
// enqueue, and block only when the queue is full (backpressure, not loss).
type publishQueue struct {
	next   Publisher
	report func(ev event.Encoded, err error)

	mu     sync.RWMutex
	items  chan queued
	closed bool
}

type queued struct {
	ev   event.Encoded
	done chan<- error // nil: nobody waits
}

var errQueueClosed = errors.New("collector stopping: event not queued")

func newPublishQueue(next Publisher, size int, report func(event.Encoded, error)) *publishQueue {
	return &publishQueue{next: next, report: report, items: make(chan queued, size)}
}

// Publish queues ev; the spool's outcome goes to report.
func (q *publishQueue) Publish(ctx context.Context, ev event.Encoded) error {
	return q.put(ctx, queued{ev: ev})
}

// PublishWait queues ev and waits for the spool's outcome: for events
// whose bookkeeping depends on being kept (node.reboot).
func (q *publishQueue) PublishWait(ctx context.Context, ev event.Encoded) error {
	done := make(chan error, 1)
	if err := q.put(ctx, queued{ev: ev, done: done}); err != nil {
		return err
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (q *publishQueue) put(ctx context.Context, it queued) error {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return errQueueClosed
	}
	select {
	case q.items <- it: // first, so an event at shutdown is still kept
		return nil
	default:
	}
	select {
	case q.items <- it:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run publishes queued events in order until close, then returns. Events
// still queued when ctx has ended go to the spool's disk (its direct
// publish fails at once with ctx's error).
func (q *publishQueue) run(ctx context.Context) {
	for it := range q.items {
		err := q.next.Publish(ctx, it.ev)
		q.report(it.ev, err)
		if it.done != nil {
			it.done <- err
		}
	}
}

// close stops taking events; run returns once the queue is drained.
func (q *publishQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.items)
	}
}

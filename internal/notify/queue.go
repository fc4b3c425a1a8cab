package notify

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"
)

// DeadLetterer stores a notification that could not be delivered.
type DeadLetterer interface {
	DeadLetter(ctx context.Context, n *Notification, cause error, attempts int) error
}

// Outcome reports a finished delivery: err is nil when delivered, else the
// reason it was dead-lettered.
type Outcome func(n *Notification, ref string, err error)

// QueueOptions configure one receiver's queue.
type QueueOptions struct {
	Backoff Backoff
	// Coalesce is the most messages merged into one notification when
	// several wait (1: never merge).
	Coalesce int
	Dead     DeadLetterer
	Done     Outcome
	Metrics  *Metrics
	Log      *slog.Logger
}

// Queue feeds one receiver, one notification at a time. While a
// notification is in flight (or waiting for the rate limiter, or between
// retries), newer messages of the same group replace older ones and
// different groups wait to be coalesced: a burst becomes a digest, never a
// drop.
type Queue struct {
	recv Receiver
	opts QueueOptions
	log  *slog.Logger

	mu sync.Mutex
	// pending in arrival order; byGroup finds a group's message without a
	// scan, which matters when a burst backs the queue up.
	pending []*Message
	byGroup map[string]int // group id → index in pending
	wake    chan struct{}
}

// NewQueue returns a queue for recv; Run delivers.
func NewQueue(recv Receiver, opts QueueOptions) *Queue {
	if opts.Coalesce < 1 {
		opts.Coalesce = 1
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	return &Queue{recv: recv, opts: opts, log: opts.Log.With("receiver", recv.Name()),
		byGroup: map[string]int{}, wake: make(chan struct{}, 1)}
}

// Enqueue adds m, replacing a pending message of the same group.
func (q *Queue) Enqueue(m *Message) {
	q.mu.Lock()
	i, replaced := q.byGroup[m.GroupID]
	if replaced {
		m.Absorb(q.pending[i])
		q.pending[i] = m
	} else {
		q.byGroup[m.GroupID] = len(q.pending)
		q.pending = append(q.pending, m)
	}
	n := len(q.pending)
	q.mu.Unlock()
	if replaced {
		q.opts.Metrics.coalesced.WithLabelValues(q.recv.Name()).Inc()
	}
	q.opts.Metrics.pending.WithLabelValues(q.recv.Name()).Set(float64(n))
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Pending counts waiting messages.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.pending)
}

// Run delivers until ctx ends. Messages still queued then are not lost:
// their groups' notification log was not updated, so they are sent again
// after a restart.
func (q *Queue) Run(ctx context.Context) {
	for {
		n := q.take()
		if n == nil {
			select {
			case <-ctx.Done():
				return
			case <-q.wake:
				continue
			}
		}
		q.deliver(ctx, n)
		if ctx.Err() != nil {
			return
		}
	}
}

// take picks the next notification: the most urgent message (critical
// pages first when a rate limit backs the queue up), merged with others of
// the same kind of timeline into a digest when the receiver coalesces.
// Drills and live alerts never share a notification, and quiet refreshes
// (edits in place) are never merged into a digest.
func (q *Queue) take() *Notification {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pending) == 0 {
		return nil
	}
	first := 0
	for i, m := range q.pending {
		if m.Priority() < q.pending[first].Priority() {
			first = i
		}
	}
	lead := q.pending[first]
	msgs := []*Message{lead}
	rest := make([]*Message, 0, len(q.pending)-1)
	for i, m := range q.pending {
		switch {
		case i == first:
		case len(msgs) < q.opts.Coalesce && lead.Kind != KindRefresh && m.Kind != KindRefresh && m.Drill == lead.Drill:
			msgs = append(msgs, m)
		default:
			rest = append(rest, m)
		}
	}
	// A digest reads most urgent first too.
	slices.SortStableFunc(msgs, func(a, b *Message) int { return a.Priority() - b.Priority() })
	k := len(msgs)
	n := &Notification{Receiver: q.recv.Name(), Messages: msgs}
	q.pending = rest
	clear(q.byGroup)
	for i, m := range q.pending {
		q.byGroup[m.GroupID] = i
	}
	q.opts.Metrics.pending.WithLabelValues(q.recv.Name()).Set(float64(len(q.pending)))
	if k > 1 {
		q.opts.Metrics.coalesced.WithLabelValues(q.recv.Name()).Add(float64(k - 1))
	}
	return n
}

func (q *Queue) deliver(ctx context.Context, n *Notification) {
	name := q.recv.Name()
	start := time.Now()
	var ref string
	attempts, err := q.opts.Backoff.Run(ctx, func(actx context.Context, _ int) error {
		var err error
		ref, err = q.recv.Send(actx, n)
		return err
	}, func(attempt int, err error, wait time.Duration) {
		if wait < 0 {
			q.opts.Metrics.attempts.WithLabelValues(name, "failed").Inc()
			return
		}
		q.opts.Metrics.attempts.WithLabelValues(name, "retry").Inc()
		q.log.Warn("delivery failed; retrying", "attempt", attempt, "wait", wait, "err", err)
	})
	if ctx.Err() != nil {
		return // shutting down: the notification log still says unsent
	}
	if err == nil {
		q.opts.Metrics.attempts.WithLabelValues(name, "ok").Inc()
		q.opts.Metrics.delivered.WithLabelValues(name).Inc()
		q.opts.Metrics.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
		q.shareRef(n, ref)
		if q.opts.Done != nil {
			q.opts.Done(n, ref, nil)
		}
		return
	}
	_, _, reason := Classify(err)
	q.opts.Metrics.deadLetters.WithLabelValues(name, reason).Inc()
	if q.opts.Dead != nil {
		if derr := q.opts.Dead.DeadLetter(ctx, n, err, attempts); derr != nil {
			q.log.Error("dead letter not stored", "err", derr)
			return // only when shutting down: the groups stay unsent
		}
	}
	if q.opts.Done != nil {
		q.opts.Done(n, "", err)
	}
}

// shareRef gives a new thread reference to pending messages of the same
// groups, which were queued before it was known.
func (q *Queue) shareRef(n *Notification, ref string) {
	if ref == "" {
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, m := range n.Messages {
		if m.Ref == "" {
			m.Ref = ref
		}
		if i, ok := q.byGroup[m.GroupID]; ok && q.pending[i].Ref == "" {
			q.pending[i].Ref = ref
		}
	}
}

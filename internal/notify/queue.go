package notify

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	// Parallel is how many notifications may be in flight at once (1, the
	// default: one at a time). More lets different groups overlap their
	// round trips, for destinations that do not care in which order
	// different groups' messages arrive. The caller must not enqueue a
	// group's message while another of that group is in flight (the
	// dispatcher holds it until the outcome), or the two may cross.
	Parallel int
	Dead     DeadLetterer
	Done     Outcome
	Metrics  *Metrics
	Log      *slog.Logger
}

// Queue feeds one receiver, one notification at a time (or a few, see
// QueueOptions.Parallel). While a notification is in flight (or waiting
// for the rate limiter, or between retries), newer messages of the same
// group replace older ones and different groups wait to be coalesced: a
// burst becomes a digest, never a drop.
type Queue struct {
	recv Receiver
	opts QueueOptions
	log  *slog.Logger

	// The receiver's metrics, looked up once.
	pendingG  prometheus.Gauge
	coalesced prometheus.Counter

	mu      sync.Mutex
	pending *pendingSet
	wake    chan struct{}

	stopped  chan struct{} // closed by Stop
	stopOnce sync.Once
}

// NewQueue returns a queue for recv; Run delivers.
func NewQueue(recv Receiver, opts QueueOptions) *Queue {
	if opts.Coalesce < 1 {
		opts.Coalesce = 1
	}
	if opts.Parallel < 1 {
		opts.Parallel = 1
	}
	if opts.Metrics == nil {
		opts.Metrics = NewMetrics(nil)
	}
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	name := recv.Name()
	return &Queue{recv: recv, opts: opts, log: opts.Log.With("receiver", name),
		pendingG: opts.Metrics.pending.WithLabelValues(name), coalesced: opts.Metrics.coalesced.WithLabelValues(name),
		pending: newPendingSet(), wake: make(chan struct{}, 1), stopped: make(chan struct{})}
}

// Enqueue adds m, replacing a pending message of the same group.
func (q *Queue) Enqueue(m *Message) {
	q.mu.Lock()
	replaced := q.pending.put(m)
	n := q.pending.len()
	q.mu.Unlock()
	if replaced {
		q.coalesced.Inc()
	}
	q.pendingG.Set(float64(n))
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// Pending counts waiting messages.
func (q *Queue) Pending() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pending.len()
}

// Run delivers until ctx ends, or Stop was called and the deliveries in
// flight have ended. Messages still queued then are not lost: their
// groups' notification log was not updated, so they are sent again after
// a restart.
func (q *Queue) Run(ctx context.Context) {
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-q.stopped:
			cancel()
		case <-sctx.Done():
		}
	}()
	var wg sync.WaitGroup
	for range q.opts.Parallel - 1 {
		wg.Go(func() { q.send(ctx, sctx) })
	}
	q.send(ctx, sctx)
	wg.Wait()
}

// Stop makes Run take no more notifications and return once those in
// flight end: an attempt under way runs to its end, so a message the
// receiver took is reported done and logged; a wait between attempts is
// cut short, and that notification stays unsent.
func (q *Queue) Stop() { q.stopOnce.Do(func() { close(q.stopped) }) }

// send is one sender: it delivers one notification at a time until ctx
// ends or stop does.
func (q *Queue) send(ctx, stop context.Context) {
	for stop.Err() == nil {
		n := q.take()
		if n == nil {
			select {
			case <-stop.Done():
				return
			case <-q.wake:
				continue
			}
		}
		q.deliver(ctx, stop, n)
	}
}

// take picks the next notification: the most urgent message (critical
// pages first when a rate limit backs the queue up), merged with others of
// the same kind of timeline into a digest when the receiver coalesces.
// Drills and live alerts never share a notification, and quiet refreshes
// (edits in place) are never merged into a digest.
func (q *Queue) take() *Notification {
	q.mu.Lock()
	msgs := q.pending.take(q.opts.Coalesce)
	n := q.pending.len()
	q.mu.Unlock()
	if msgs == nil {
		return nil
	}
	if n > 0 && q.opts.Parallel > 1 {
		// One wake-up may have been meant for several messages: an idle
		// sender takes what is left.
		select {
		case q.wake <- struct{}{}:
		default:
		}
	}
	// A digest reads most urgent first too.
	slices.SortStableFunc(msgs, func(a, b *Message) int { return a.Priority() - b.Priority() })
	q.pendingG.Set(float64(n))
	if k := len(msgs); k > 1 {
		q.coalesced.Add(float64(k - 1))
	}
	return &Notification{Receiver: q.recv.Name(), Messages: msgs}
}

func (q *Queue) deliver(ctx, stop context.Context, n *Notification) {
	name := q.recv.Name()
	start := time.Now()
	var ref string
	// Waits end with stop; an attempt only with ctx (or the budget).
	attempts, err := q.opts.Backoff.Run(stop, func(actx context.Context, _ int) error {
		tctx := ctx
		if dl, ok := actx.Deadline(); ok {
			var cancel context.CancelFunc
			tctx, cancel = context.WithDeadline(ctx, dl)
			defer cancel()
		}
		var err error
		ref, err = q.recv.Send(tctx, n)
		return err
	}, func(attempt int, err error, wait time.Duration) {
		if wait < 0 {
			q.opts.Metrics.attempts.WithLabelValues(name, "failed").Inc()
			return
		}
		q.opts.Metrics.attempts.WithLabelValues(name, "retry").Inc()
		q.log.Warn("delivery failed; retrying", "attempt", attempt, "wait", wait, "err", err)
	})
	if err != nil && stop.Err() != nil {
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
		if w := q.pending.get(m.GroupID); w != nil && w.Ref == "" {
			w.Ref = ref
		}
	}
}

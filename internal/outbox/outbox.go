package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Item is one message to store.
type Item struct {
	Subject string
	Data    []byte
	// ID is the Nats-Msg-Id: a message published twice is stored once.
	ID string
	// Header, when set, is sent as is (dead letters).
	Header nats.Header
}

// msg is a fresh message for one attempt: the client adds headers.
func (it Item) msg() *nats.Msg {
	return copyMsg(&nats.Msg{Subject: it.Subject, Data: it.Data, Header: it.Header})
}

// Options configure an Outbox.
type Options struct {
	// NC is the connection to publish on; the outbox keeps a JetStream
	// context of its own on it, so its acknowledgement timeout is its own.
	NC *nats.Conn
	// DeadLetters is the subject of items refused for good (dlq.alerts).
	DeadLetters string
	// Retry bounds the waits between attempts; Retry.Timeout is also how
	// long an asynchronous publish waits for its acknowledgement.
	Retry Retry
	// MaxPending bounds the messages published and not yet acknowledged
	// (default 4096): Send waits while that many are.
	MaxPending int
	Log        *slog.Logger
	// OnRetry hears of every failed attempt that is retried, OnDeadLetter
	// of every item refused for good (both may be nil).
	OnRetry      func(err error)
	OnDeadLetter func(it Item, err error)
}

// Outbox publishes items asynchronously, in the order they are sent, and
// reports each batch done once all of its items are acknowledged by the
// stream (or dead-lettered), in the same order. A publish that fails for a
// reason worth retrying is retried in place, holding back the completion
// of everything after it: a batch is never reported done before the ones
// sent earlier. Items refused for good are stored on DeadLetters with the
// reason, cut to fit, and reported as errors.
//
// Publishes are pipelined, so one retried after a failure may be stored
// after later ones that succeeded at the first attempt. Alerts carry their
// creation time, and the lifecycle keeps the newest of a fingerprint, so
// this reorders nothing it acts on.
type Outbox struct {
	o     Options
	js    jetstream.JetStream
	log   *slog.Logger
	limit int

	// turn serialises publishing, so items are published in the order
	// sent; a channel, so a sender waiting for it can give up.
	turn     chan struct{}
	inflight chan *batch
	slots    chan struct{}
	quit     chan struct{}
	closing  chan struct{}
	done     chan struct{}
	once     sync.Once
}

type batch struct {
	items []Item
	futs  []jetstream.PubAckFuture
	errs  []error
	done  func([]error)
	// abandoned: the sender gave up part-way; what was published is
	// awaited (its slots freed), done is not called.
	abandoned bool
}

// New starts an outbox.
func New(o Options) (*Outbox, error) {
	if o.NC == nil || o.DeadLetters == "" {
		return nil, errors.New("outbox: a connection and a dead-letter subject are required")
	}
	o.Retry = o.Retry.withDefaults()
	if o.MaxPending <= 0 {
		o.MaxPending = 4096
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	js, err := jetstream.New(o.NC, jetstream.WithPublishAsyncTimeout(o.Retry.Timeout))
	if err != nil {
		return nil, fmt.Errorf("outbox: %w", err)
	}
	b := &Outbox{
		o: o, js: js, log: o.Log, limit: Limit(o.NC),
		turn: make(chan struct{}, 1), inflight: make(chan *batch, o.MaxPending),
		slots: make(chan struct{}, o.MaxPending), quit: make(chan struct{}), closing: make(chan struct{}),
		done: make(chan struct{}),
	}
	go func() { defer close(b.done); b.complete() }()
	return b, nil
}

// Limit is the largest dead-letter body nc's server takes, leaving room
// for the headers.
func Limit(nc *nats.Conn) int {
	return max(int(nc.MaxPayload())-4096, 1024)
}

// Send publishes items after everything sent before, without waiting
// for their acknowledgements (on the caller's goroutine: no hand-over
// before the publish). done (may be nil) gets one error per item, nil for
// those stored, once all are stored or dead-lettered: in the order of Send
// calls, on the outbox's goroutine, so it must not block. Send waits while
// MaxPending messages are unacknowledged, unless ctx ends; it returns
// false, and done is never called, when ctx ends first or the outbox is
// closing.
func (b *Outbox) Send(ctx context.Context, items []Item, done func([]error)) bool {
	select {
	case <-b.closing:
		return false
	case <-ctx.Done():
		return false
	case b.turn <- struct{}{}:
	}
	defer func() { <-b.turn }()
	select { // select picks at random among the ready: closing wins here
	case <-b.closing:
		return false
	default:
	}
	bt := &batch{items: items, done: done, futs: make([]jetstream.PubAckFuture, len(items)), errs: make([]error, len(items))}
	for i, it := range items {
		select {
		case b.slots <- struct{}{}:
		case <-b.closing:
			return b.abandon(bt, i)
		case <-ctx.Done():
			return b.abandon(bt, i)
		}
		bt.futs[i], bt.errs[i] = b.js.PublishMsgAsync(it.msg(), jetstream.WithMsgID(it.ID))
	}
	select {
	case b.inflight <- bt:
		return true
	case <-b.quit:
		return false
	}
}

// abandon hands over a batch published up to item n (excluded), so the
// completer frees the slots of what was published, and reports false.
func (b *Outbox) abandon(bt *batch, n int) bool {
	bt.abandoned, bt.items, bt.futs, bt.errs = true, bt.items[:n], bt.futs[:n], bt.errs[:n]
	if n > 0 {
		select {
		case b.inflight <- bt:
		case <-b.quit:
		}
	}
	return false
}

// Flush waits until everything sent before it is done, or ctx ends.
func (b *Outbox) Flush(ctx context.Context) error {
	ch := make(chan struct{})
	if !b.Send(ctx, nil, func([]error) { close(ch) }) {
		return errClosed
	}
	select {
	case <-ch:
		return nil
	case <-b.done:
		return errClosed
	case <-ctx.Done():
		return fmt.Errorf("outbox flush: %w", ctx.Err())
	}
}

// Close stops taking items, waits until those sent are done or ctx ends,
// then stops: batches not done by then are never reported done (their
// events stay unacknowledged and are redelivered).
func (b *Outbox) Close(ctx context.Context) {
	b.once.Do(func() {
		ch := make(chan struct{})
		queued := b.Send(ctx, nil, func([]error) { close(ch) })
		close(b.closing)
		if queued {
			select {
			case <-ch:
			case <-ctx.Done():
			}
		}
		close(b.quit)
	})
	<-b.done
}

var errClosed = errors.New("outbox closed")

// complete waits for each batch's acks in order, retries what failed, and
// reports the batch done.
func (b *Outbox) complete() {
	for {
		var bt *batch
		select {
		case bt = <-b.inflight:
		case <-b.quit:
			return
		}
		if bt.abandoned { // nobody waits for it: free its slots
			for i := range bt.items {
				if bt.errs[i] == nil && errors.Is(b.await(bt.futs[i]), errClosed) {
					return
				}
				<-b.slots
			}
			continue
		}
		for i := range bt.items {
			err := bt.errs[i]
			if err == nil {
				err = b.await(bt.futs[i])
			}
			<-b.slots
			if err != nil && !Permanent(err) && !errors.Is(err, errClosed) {
				err = b.retry(bt.items[i], err)
			}
			if errors.Is(err, errClosed) {
				return
			}
			if err != nil {
				if derr := b.deadLetter(bt.items[i], err); errors.Is(derr, errClosed) {
					return
				}
			}
			bt.errs[i] = err
		}
		if bt.done != nil && !bt.abandoned {
			bt.done(bt.errs)
		}
	}
}

func (b *Outbox) await(f jetstream.PubAckFuture) error {
	select {
	case <-f.Ok():
		return nil
	case err := <-f.Err():
		return err
	case <-b.quit:
		return errClosed
	}
}

// quitContext ends when the outbox stops.
func (b *Outbox) quitContext() (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		select {
		case <-b.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}

// retry publishes it synchronously until it is stored, refused for good,
// or the outbox stops (errClosed).
func (b *Outbox) retry(it Item, first error) error {
	b.failed(it, first)
	ctx, cancel := b.quitContext()
	defer cancel()
	err := Publish(ctx, b.js, it.msg(), it.ID, b.o.Retry, func(err error) { b.failed(it, err) })
	if ctx.Err() != nil {
		return errClosed
	}
	return err
}

func (b *Outbox) failed(it Item, err error) {
	b.log.Warn("publish failed; retrying", "subject", it.Subject, "id", it.ID, "err", err)
	if b.o.OnRetry != nil {
		b.o.OnRetry(err)
	}
}

// deadLetter stores it on DeadLetters with why it was refused.
func (b *Outbox) deadLetter(it Item, cause error) error {
	ctx, cancel := b.quitContext()
	defer cancel()
	l := Letter{Subject: b.o.DeadLetters, ID: "dlq-" + it.ID, Data: it.Data, Reason: cause.Error(), From: it.Subject}
	err := DeadLetter(ctx, b.js, l, b.limit, b.o.Retry, func(err error) {
		b.log.Warn("dead letter publish failed; retrying", "subject", l.Subject, "id", it.ID, "err", err)
	})
	if ctx.Err() != nil {
		return errClosed
	}
	if err != nil {
		b.log.Error("message refused for good and its dead letter too; dropped", "subject", it.Subject, "id", it.ID, "size", len(it.Data), "reason", cause, "err", err)
	} else {
		b.log.Error("message refused for good; dead-lettered", "subject", it.Subject, "id", it.ID, "size", len(it.Data), "dead_letter", l.Subject, "reason", cause)
	}
	if b.o.OnDeadLetter != nil {
		b.o.OnDeadLetter(it, cause)
	}
	return nil
}

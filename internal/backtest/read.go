package backtest

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
)

// Reading is a pipeline: one goroutine pulls messages in stream order and
// cuts them into batches, several decode batches in parallel (JSON
// decoding is most of the cost), and the caller's goroutine feeds the
// decoded events to the engines in stream order (the engines are
// single-threaded, and order is what makes the result the router's).

const decodeBatch = 256

type item struct {
	subject string
	data    []byte
	arrival time.Time
	ev      *event.Event
	drill   bool
	bad     bool
}

type batch struct {
	items []item
	done  chan struct{}
}

func (res *Result) read(ctx context.Context, js jetstream.JetStream, opts Options, end uint64) error {
	from := opts.From
	filters, local := serverFilters(opts.Subjects)
	oc, err := js.OrderedConsumer(ctx, opts.Stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: filters,
		DeliverPolicy:  jetstream.DeliverByStartTimePolicy,
		OptStartTime:   &from,
	})
	if err != nil {
		return fmt.Errorf("backtest: ordered consumer on %s: %w", opts.Stream, err)
	}
	info, err := oc.Info(ctx)
	if err != nil {
		return fmt.Errorf("backtest: consumer info: %w", err)
	}
	if info.NumPending == 0 {
		return nil
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(opts.Batch))
	if err != nil {
		return fmt.Errorf("backtest: read %s: %w", opts.Stream, err)
	}
	defer it.Stop()

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ordered := make(chan *batch, 16)
	work := make(chan *batch, 16)
	for range max(1, runtime.GOMAXPROCS(0)) {
		go func() {
			for b := range work {
				decode(b)
			}
		}()
	}
	errc := make(chan error, 1)
	var fetched atomic.Int64
	began, total := time.Now(), int64(info.NumPending)
	go func() {
		errc <- res.fetch(ctx, it, opts, end, local, ordered, work, &fetched)
		close(work)
		close(ordered)
	}()
	var nextTick time.Time
	for b := range ordered {
		<-b.done
		for i := range b.items {
			x := &b.items[i]
			if !x.arrival.Before(nextTick) {
				// The idle clock fires between events, before this one.
				for _, r := range res.Runs {
					r.collect(r.engine.Advance(x.arrival.Add(-idleLag)))
				}
				nextTick = x.arrival.Add(idleTick)
			}
			res.apply(x)
		}
		if opts.Progress != nil {
			opts.Progress(Progress{Read: fetched.Load(), Total: total, Elapsed: time.Since(began)})
		}
	}
	return <-errc
}

// fetch pulls messages until the end of the range and hands them out in
// batches; it returns nil at the end, or the error that stopped it.
func (res *Result) fetch(ctx context.Context, it jetstream.MessagesContext, opts Options, end uint64, local func(string) bool, ordered, work chan<- *batch, fetched *atomic.Int64) error {
	b := &batch{done: make(chan struct{})}
	flush := func() bool {
		if len(b.items) == 0 {
			return true
		}
		// Decoding first: a batch the caller waits for is always decoded.
		select {
		case work <- b:
		case <-ctx.Done():
			return false
		}
		select {
		case ordered <- b:
		case <-ctx.Done():
			return false
		}
		b = &batch{items: make([]item, 0, decodeBatch), done: make(chan struct{})}
		return true
	}
	defer flush()
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		msg, err := it.Next(jetstream.NextMaxWait(stallTimeout))
		if err != nil {
			if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
				return nil
			}
			if errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
				return fmt.Errorf("backtest: read %s: no message within %s although more were pending: %w", opts.Stream, stallTimeout, err)
			}
			return fmt.Errorf("backtest: read %s: %w", opts.Stream, err)
		}
		md, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("backtest: message metadata: %w", err)
		}
		fetched.Add(1)
		if md.Timestamp.After(res.Until) {
			return nil
		}
		if local == nil || local(msg.Subject()) {
			b.items = append(b.items, item{subject: msg.Subject(), data: msg.Data(), arrival: md.Timestamp})
			if len(b.items) == decodeBatch && !flush() {
				return ctx.Err()
			}
		}
		if md.Sequence.Stream >= end || md.NumPending == 0 {
			return nil
		}
	}
}

// decode checks each message as the router does before evaluation.
func decode(b *batch) {
	for i := range b.items {
		x := &b.items[i]
		drill, err := event.IsDrill(x.subject)
		var ev *event.Event
		if err == nil {
			ev, err = event.Decode(x.data)
		}
		if err == nil {
			err = ev.CheckSubject(x.subject)
		}
		x.ev, x.drill, x.bad, x.data = ev, drill, err != nil, nil
	}
	close(b.done)
}

// apply evaluates one decoded message on every rule set.
func (res *Result) apply(x *item) {
	if res.First.IsZero() {
		res.First = x.arrival
	}
	res.Last = x.arrival
	if x.bad {
		res.Skipped++
		return
	}
	res.Events++
	for _, r := range res.Runs {
		r.collect(r.engine.Process(x.ev, correlate.Meta{Drill: x.drill, Arrival: x.arrival}))
	}
}

// serverFilters decides where subjects are filtered. The namespaces
// (events.>, drill.events.>) are filtered here: a server-side filter over
// thousands of per-node subjects costs the server a subject-tree match per
// message block, several times the cost of reading the few drill events
// the stream also holds. Narrower filters go to the server.
func serverFilters(subjects []string) (server []string, local func(string) bool) {
	for _, s := range subjects {
		if s != SubjectsLive && s != SubjectsDrill {
			return subjects, nil
		}
	}
	live, drill := slices.Contains(subjects, SubjectsLive), slices.Contains(subjects, SubjectsDrill)
	return nil, func(subject string) bool {
		if strings.HasPrefix(subject, event.DrillPrefix+".") {
			return drill
		}
		return live && strings.HasPrefix(subject, event.LivePrefix+".")
	}
}

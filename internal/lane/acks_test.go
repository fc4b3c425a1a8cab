package lane

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus/bustest"
)

// ackStand is a stream of n messages and a consumer (policy) that has
// delivered them all, on a real server.
type ackStand struct {
	t    *testing.T
	cons jetstream.Consumer
	msgs map[uint64]jetstream.Msg // by stream sequence
}

func newAckStand(t *testing.T, policy jetstream.AckPolicy, n int) *ackStand {
	t.Helper()
	ctx := context.Background()
	c := bustest.Connect(t, bustest.Server(t))
	if _, err := c.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := c.JS.Publish(ctx, "t.x", fmt.Appendf(nil, "%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := c.JS.CreateConsumer(ctx, "T", jetstream.ConsumerConfig{Durable: "c", AckPolicy: policy, AckWait: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	s := &ackStand{t: t, cons: cons, msgs: map[uint64]jetstream.Msg{}}
	s.fetch(n)
	return s
}

// fetch takes n deliveries.
func (s *ackStand) fetch(n int) {
	s.t.Helper()
	batch, err := s.cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		s.t.Fatal(err)
	}
	got := 0
	for m := range batch.Messages() {
		md, err := m.Metadata()
		if err != nil {
			s.t.Fatal(err)
		}
		s.msgs[md.Sequence.Stream] = m
		got++
	}
	if got != n {
		s.t.Fatalf("fetched %d of %d", got, n)
	}
}

// serverFloor waits until the server's ack floor is want.
func (s *ackStand) serverFloor(want uint64) {
	s.t.Helper()
	var last uint64
	bustest.Eventually(s.t, fmt.Sprintf("the server's ack floor at %d", want), func() bool {
		info, err := s.cons.Info(context.Background())
		if err != nil {
			return false
		}
		last = info.AckFloor.Stream
		return last == want
	})
}

func testAcks(all bool) *acks {
	a := newAcks(all, slog.New(slog.NewTextHandler(io.Discard, nil)))
	a.delay = time.Hour // acks only by batch or flush, unless a test says
	return a
}

// TestAcksFloor: an ack goes out only for an event before which every
// delivered event is done, whatever order they finish in.
func TestAcksFloor(t *testing.T) {
	s := newAckStand(t, jetstream.AckAllPolicy, 5)
	a := testAcks(true)
	for seq := uint64(1); seq <= 5; seq++ {
		a.deliver(seq, s.msgs[seq])
	}
	for _, step := range []struct {
		done  []uint64
		floor uint64
	}{
		{[]uint64{2, 3}, 0}, // 1 is not done: nothing may be acked
		{[]uint64{1}, 3},
		{[]uint64{5}, 3}, // 4 holds 5 back
		{[]uint64{4}, 5},
		{[]uint64{2}, 5}, // a redelivery of one acked already
	} {
		for _, seq := range step.done {
			a.done(seq, s.msgs[seq])
		}
		a.flush()
		if a.floor != step.floor {
			t.Fatalf("after %v done: floor %d, want %d", step.done, a.floor, step.floor)
		}
		s.serverFloor(step.floor)
	}
}

// TestAcksBatchAndDelay: a full batch is acked at once; a smaller one
// after the delay.
func TestAcksBatchAndDelay(t *testing.T) {
	s := newAckStand(t, jetstream.AckAllPolicy, 4)
	a := testAcks(true)
	a.batch = 2
	for seq := uint64(1); seq <= 4; seq++ {
		a.deliver(seq, s.msgs[seq])
	}
	a.done(1, s.msgs[1])
	if a.floor != 0 {
		t.Fatalf("floor %d after one of a batch of 2", a.floor)
	}
	a.done(2, s.msgs[2])
	if a.floor != 2 {
		t.Fatalf("floor %d after a full batch, want 2", a.floor)
	}
	s.serverFloor(2)
	a.mu.Lock()
	a.delay = 20 * time.Millisecond
	a.mu.Unlock()
	a.done(3, s.msgs[3])
	s.serverFloor(3) // by the timer: nothing else acks it
}

// TestAcksNakHoldsBack: an event nakked (a rebuild that failed) holds back
// the acks of the events after it until its redelivery is done; acking
// them would ack it too, and it would never come back.
func TestAcksNakHoldsBack(t *testing.T) {
	s := newAckStand(t, jetstream.AckAllPolicy, 2)
	a := testAcks(true)
	a.deliver(1, s.msgs[1])
	if err := s.msgs[1].Nak(); err != nil {
		t.Fatal(err)
	}
	a.deliver(2, s.msgs[2])
	a.done(2, s.msgs[2])
	a.flush()
	if a.floor != 0 {
		t.Fatalf("floor %d with event 1 nakked", a.floor)
	}
	s.fetch(1) // event 1 again
	a.deliver(1, s.msgs[1])
	a.done(1, s.msgs[1])
	a.flush()
	s.serverFloor(2)
	if w := a.waiting(0); len(w) != 0 {
		t.Fatalf("%d events still waiting for an ack", len(w))
	}
}

// TestAcksExplicit: a consumer made with explicit acks (by an earlier
// version) gets an ack per event as it is done.
func TestAcksExplicit(t *testing.T) {
	s := newAckStand(t, jetstream.AckExplicitPolicy, 3)
	a := testAcks(false)
	for seq := uint64(1); seq <= 3; seq++ {
		a.deliver(seq, s.msgs[seq])
	}
	a.done(2, s.msgs[2])
	bustest.Eventually(t, "event 2 acked alone", func() bool {
		info, err := s.cons.Info(context.Background())
		return err == nil && info.NumAckPending == 2 && info.AckFloor.Stream == 0
	})
	a.done(1, s.msgs[1])
	s.serverFloor(2)
}

// TestAcksRedeliveryOfADoneEvent: an event done and waiting for the next
// ack is redelivered (its ack was late); that must not put it back in
// line as not done, where it would hold back every ack after it for good.
func TestAcksRedeliveryOfADoneEvent(t *testing.T) {
	s := newAckStand(t, jetstream.AckAllPolicy, 3)
	a := testAcks(true)
	a.deliver(1, s.msgs[1])
	a.deliver(2, s.msgs[2])
	a.done(1, s.msgs[1]) // ready, not acked yet
	a.deliver(1, s.msgs[1])
	a.done(2, s.msgs[2])
	a.flush()
	a.done(1, s.msgs[1]) // the redelivery, a duplicate to the lane
	a.deliver(3, s.msgs[3])
	a.done(3, s.msgs[3])
	a.flush()
	if a.floor != 3 {
		t.Fatalf("floor %d, want 3", a.floor)
	}
	s.serverFloor(3)
}

// TestAcksRandom: events finish in any order, are redelivered before or
// after they are done and acked, and acks go out at any moment; an ack
// never covers an event not done, and once all are done one covers all.
func TestAcksRandom(t *testing.T) {
	const n = 40
	for seed := range uint64(16) {
		t.Run(fmt.Sprint("seed ", seed), func(t *testing.T) {
			s := newAckStand(t, jetstream.AckAllPolicy, n)
			a := testAcks(true)
			a.batch = 1 + int(seed)*3
			r := rand.New(rand.NewPCG(seed, 1))
			done := map[uint64]bool{}
			for seq := uint64(1); seq <= n; seq++ {
				a.deliver(seq, s.msgs[seq])
			}
			for range 2000 {
				seq := 1 + r.Uint64N(n)
				switch r.IntN(4) {
				case 0, 1:
					a.done(seq, s.msgs[seq])
					done[seq] = true
				case 2: // a redelivery; handled as the lane does: a duplicate once done
					a.deliver(seq, s.msgs[seq])
					if r.IntN(2) == 0 { // the timer's ack, between the two
						a.flush()
					}
					if done[seq] {
						a.done(seq, s.msgs[seq])
					}
				case 3:
					a.flush()
				}
				for q := uint64(1); q <= a.floor; q++ {
					if !done[q] {
						t.Fatalf("acked through %d, but %d is not done", a.floor, q)
					}
				}
			}
			for seq := uint64(1); seq <= n; seq++ {
				a.done(seq, s.msgs[seq])
			}
			a.flush()
			if a.floor != n {
				t.Fatalf("all done, floor %d, want %d", a.floor, n)
			}
			s.serverFloor(n)
		})
	}
}

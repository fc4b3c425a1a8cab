package notify_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/notify/notifytest"
)

type outcomes struct {
	mu   sync.Mutex
	refs map[string]string
	errs map[string]error
}

func (o *outcomes) done(n *notify.Notification, ref string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, m := range n.Messages {
		if err != nil {
			o.errs[m.GroupID] = err
		} else {
			o.refs[m.GroupID] = ref
		}
	}
}

func runQueue(t *testing.T, recv notify.Receiver, coalesce int, dlq notify.DeadLetterer) (*notify.Queue, *outcomes) {
	return runParallel(t, recv, coalesce, 1, dlq)
}

func runParallel(t *testing.T, recv notify.Receiver, coalesce, parallel int, dlq notify.DeadLetterer) (*notify.Queue, *outcomes) {
	out := &outcomes{refs: map[string]string{}, errs: map[string]error{}}
	q := notify.NewQueue(recv, notify.QueueOptions{
		Backoff:  notify.Backoff{Initial: time.Second, Max: 10 * time.Second, MaxElapsed: time.Minute},
		Coalesce: coalesce, Parallel: parallel, Dead: dlq, Done: out.done,
	})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { q.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return q, out
}

func fire(group, node string) *notify.Message {
	return notifytest.Message("r", group, notifytest.Alert("node-crash", group+node, alert.Firing, map[string]string{"node": node}))
}

// TestQueueCoalesces: while a send is in flight, a newer message of the
// same group replaces the older one and other groups merge into one digest.
func TestQueueCoalesces(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		recv := notifytest.NewReceiver("r")
		gate := make(chan struct{})
		recv.Fail = func(n *notify.Notification, attempt int) error {
			if attempt == 1 {
				<-gate // the first send is slow
			}
			return nil
		}
		q, out := runQueue(t, recv, 10, nil)
		q.Enqueue(fire("g1", "n1"))
		synctest.Wait() // g1 in flight
		q.Enqueue(fire("g2", "n2"))
		q.Enqueue(fire("g3", "n3"))
		q.Enqueue(fire("g2", "n2-updated"))
		if q.Pending() != 2 {
			t.Fatalf("pending %d, want 2 (g2 replaced)", q.Pending())
		}
		close(gate)
		synctest.Wait()
		sent := recv.Sent()
		if len(sent) != 2 || len(sent[0].Messages) != 1 || len(sent[1].Messages) != 2 {
			t.Fatalf("sent %d notifications, want [g1] then digest [g2 g3]", len(sent))
		}
		if got := sent[1].Messages[0].Firing[0].Labels["node"]; got != "n2-updated" {
			t.Errorf("g2 carries %q, want the newest message", got)
		}
		if out.refs["g1"] != "ref-1" || out.refs["g2"] != "ref-2" || out.refs["g3"] != "ref-2" {
			t.Errorf("refs %v", out.refs)
		}
	})
}

// TestQueueSharesRef: a message queued while the group's first message was
// in flight gets the reference (thread) the first one returned.
func TestQueueSharesRef(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		recv := notifytest.NewReceiver("r")
		gate := make(chan struct{})
		recv.Fail = func(_ *notify.Notification, attempt int) error {
			if attempt == 1 {
				<-gate
			}
			return nil
		}
		q, _ := runQueue(t, recv, 1, nil)
		q.Enqueue(fire("g1", "n1"))
		synctest.Wait()
		q.Enqueue(fire("g1", "n1-resolved"))
		close(gate)
		synctest.Wait()
		sent := recv.Sent()
		if len(sent) != 2 || sent[1].Messages[0].Ref != "ref-1" {
			t.Fatalf("second message ref %q, want ref-1", sent[1].Messages[0].Ref)
		}
	})
}

func TestQueueDeadLetters(t *testing.T) {
	tests := []struct {
		name         string
		err          error
		wantAttempts int
		wantReason   string
	}{
		{"permanent", notify.Permanent("errcode 93000", errors.New("invalid webhook url")), 1, "errcode 93000"},
		{"retries exhausted", notify.Transient("http 503", 0, nil), 6, "http 503"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				recv := notifytest.NewReceiver("r")
				recv.Fail = func(*notify.Notification, int) error { return tt.err }
				dlq := &notifytest.DeadLetters{}
				q, out := runQueue(t, recv, 1, dlq)
				q.Enqueue(fire("g1", "n1"))
				time.Sleep(2 * time.Minute)
				synctest.Wait()
				got := dlq.Got()
				if len(got) != 1 {
					t.Fatalf("%d dead letters, want 1", len(got))
				}
				if _, _, reason := notify.Classify(got[0].Cause); reason != tt.wantReason {
					t.Errorf("reason %q, want %q", reason, tt.wantReason)
				}
				if tt.wantAttempts == 1 && got[0].Attempts != 1 || tt.wantAttempts > 1 && got[0].Attempts < 3 {
					t.Errorf("attempts %d", got[0].Attempts)
				}
				if out.errs["g1"] == nil {
					t.Error("outcome not reported to the dispatcher")
				}
			})
		})
	}
}

func TestWindowLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := notify.NewWindowLimiter(20, time.Minute)
		start := time.Now()
		var at []time.Duration
		for range 45 {
			if err := l.Wait(t.Context()); err != nil {
				t.Fatal(err)
			}
			at = append(at, time.Since(start))
		}
		// In every window of one minute at most 20 requests.
		for i := 20; i < len(at); i++ {
			if at[i]-at[i-20] < time.Minute {
				t.Fatalf("requests %d and %d only %s apart", i-20, i, at[i]-at[i-20])
			}
		}
		if at[19] != 0 || at[20] != time.Minute || at[44] != 2*time.Minute {
			t.Errorf("schedule %v", at)
		}
		if notify.NewWindowLimiter(0, time.Second).Wait(t.Context()) != nil {
			t.Error("unlimited limiter waited")
		}
	})
}

// TestQueueOrder: while a send is in flight (a rate limit, say), what
// waits goes out critical pages first, drills after everything live;
// drills never share a digest with live alerts; quiet refreshes are never merged into a digest; a message
// replacing an unsent one of its group keeps what that one would have told.
func TestQueueOrder(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		recv := notifytest.NewReceiver("r")
		gate := make(chan struct{})
		recv.Fail = func(n *notify.Notification, attempt int) error {
			if n.Messages[0].GroupID == "first" {
				<-gate
			}
			return nil
		}
		q, _ := runQueue(t, recv, 10, nil)
		q.Enqueue(fire("first", "n0"))
		synctest.Wait()
		warn := fire("warn", "n1")
		warn.Firing[0].Severity = "warning"
		drill := fire("drill", "n2")
		drill.Drill, drill.Firing[0].Drill = true, true
		refresh := fire("refresh", "n3")
		refresh.Kind, refresh.Fresh = notify.KindRefresh, nil
		page := fire("page", "n4")
		update := fire("page", "n4") // replaces page before it was sent
		update.Kind, update.Fresh, update.News = notify.KindUpdate, nil, map[string][]string{"pagen4": {"cause found"}}
		for _, m := range []*notify.Message{warn, drill, refresh, page, update} {
			q.Enqueue(m)
		}
		close(gate)
		synctest.Wait()
		sent := recv.Sent()
		if len(sent) != 4 {
			t.Fatalf("%d notifications, want first, a live digest, the refresh, the drill (never before live)", len(sent))
		}
		live := sent[1].Messages
		if len(live) != 2 || live[0].GroupID != "page" || live[1].GroupID != "warn" {
			t.Fatalf("digest %v, want the critical page first, then the warning", groups(live))
		}
		if live[0].Kind != notify.KindPage || !live[0].Fresh["pagen4"] || len(live[0].News["pagen4"]) != 1 {
			t.Errorf("the update replacing an unsent page must still page and tell its news: kind %s fresh %v news %v", live[0].Kind, live[0].Fresh, live[0].News)
		}
		if g := groups(sent[2].Messages); len(g) != 1 || g[0] != "refresh" {
			t.Errorf("refresh notification %v", g)
		}
		if g := groups(sent[3].Messages); len(g) != 1 || g[0] != "drill" || !sent[3].Drill() {
			t.Errorf("drill notification %v", g)
		}
	})
}

func groups(ms []*notify.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.GroupID)
	}
	return out
}

// slowReceiver holds up deliveries of group "g1" until gate closes,
// without holding up the others (notifytest.Receiver serialises sends).
type slowReceiver struct {
	gate chan struct{}
	mu   sync.Mutex
	sent []string
}

func (r *slowReceiver) Name() string { return "r" }

func (r *slowReceiver) Send(_ context.Context, n *notify.Notification) (string, error) {
	if n.Messages[0].GroupID == "g1" {
		<-r.gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, groups(n.Messages)...)
	return "ref-" + n.Messages[0].GroupID, nil
}

func (r *slowReceiver) got() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.sent)
}

// TestQueueParallel: with two senders, a slow delivery holds up nothing
// else: other groups go out meanwhile (one at a time, as they come, when
// the receiver does not coalesce), and the slow one is still delivered.
// With one sender they wait for it.
func TestQueueParallel(t *testing.T) {
	for _, tc := range []struct {
		parallel int
		// what was sent while g1 was stuck
		wantMeanwhile int
	}{
		{1, 0},
		{2, 3},
	} {
		t.Run(fmt.Sprintf("parallel=%d", tc.parallel), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				recv := &slowReceiver{gate: make(chan struct{})}
				q, out := runParallel(t, recv, 1, tc.parallel, nil)
				q.Enqueue(fire("g1", "n1"))
				synctest.Wait() // g1 in flight, stuck
				for _, g := range []string{"g2", "g3", "g4"} {
					q.Enqueue(fire(g, "n"))
				}
				synctest.Wait()
				if got := recv.got(); len(got) != tc.wantMeanwhile {
					t.Errorf("sent %v while g1 was in flight, want %d", got, tc.wantMeanwhile)
				}
				close(recv.gate)
				synctest.Wait()
				if got := recv.got(); len(got) != 4 || q.Pending() != 0 {
					t.Errorf("sent %v, %d pending; want all four", got, q.Pending())
				}
				for _, g := range []string{"g1", "g2", "g3", "g4"} {
					if out.refs[g] != "ref-"+g {
						t.Errorf("outcome of %s: ref %q", g, out.refs[g])
					}
				}
			})
		})
	}
}

// countingReceiver delivers at once and says when it has seen n messages.
type countingReceiver struct {
	mu   sync.Mutex
	n    int
	want int
	done chan struct{}
}

func (r *countingReceiver) Name() string { return "r" }

func (r *countingReceiver) Send(_ context.Context, n *notify.Notification) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.n += len(n.Messages)
	if r.n == r.want {
		close(r.done)
	}
	return "", nil
}

// BenchmarkQueueBacklog drains a backlog of groups' messages (a burst that
// arrived while the receiver was busy) in digests of 20, as a Slack queue
// does: the cost per message should not grow with the backlog.
func BenchmarkQueueBacklog(b *testing.B) {
	for _, backlog := range []int{1000, 10000, 50000} {
		b.Run(fmt.Sprintf("backlog=%d", backlog), func(b *testing.B) {
			msgs := make([]*notify.Message, backlog)
			for i := range msgs {
				msgs[i] = fire(fmt.Sprintf("g%d", i), "n")
			}
			b.ResetTimer()
			for range b.N {
				recv := &countingReceiver{want: backlog, done: make(chan struct{})}
				q := notify.NewQueue(recv, notify.QueueOptions{Coalesce: 20})
				for _, m := range msgs {
					q.Enqueue(m)
				}
				ctx, cancel := context.WithCancel(b.Context())
				go q.Run(ctx)
				<-recv.done
				cancel()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*backlog), "ns/msg")
		})
	}
}

// TestQueueStop: Stop lets an attempt in flight end and report its
// outcome (a receiver that took the message has it: the notification log
// must say so), and cuts a wait between retries short, reporting nothing
// (the message stays unsent). Either way Run then returns with its
// context never cancelled, and takes nothing more.
func TestQueueStop(t *testing.T) {
	for _, tc := range []struct {
		name string
		// fail: the receiver's verdict on attempt n (nil: delivered).
		fail    func(attempt int) error
		release bool // the first attempt waits for the test
		wantRef bool
	}{
		{name: "attempt in flight", release: true, wantRef: true},
		{name: "wait between retries", fail: func(int) error { return errors.New("connection reset") }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				recv := notifytest.NewReceiver("r")
				release := make(chan struct{})
				var cancelled bool
				if tc.release {
					recv.SetHold(func(ctx context.Context) {
						select {
						case <-release:
						case <-ctx.Done():
							cancelled = true
						}
					})
				}
				if tc.fail != nil {
					recv.Fail = func(_ *notify.Notification, attempt int) error { return tc.fail(attempt) }
				}
				out := &outcomes{refs: map[string]string{}, errs: map[string]error{}}
				q := notify.NewQueue(recv, notify.QueueOptions{
					Backoff: notify.Backoff{Initial: time.Hour, Max: time.Hour, MaxElapsed: 24 * time.Hour},
					Done:    out.done,
				})
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				done := make(chan struct{})
				go func() { q.Run(ctx); close(done) }()
				q.Enqueue(fire("g1", "n1"))
				synctest.Wait() // in the attempt, or in the wait after it
				q.Stop()
				q.Enqueue(fire("g2", "n2"))
				synctest.Wait()
				if tc.release {
					select {
					case <-done:
						t.Fatal("Run returned with an attempt in flight")
					default:
					}
					close(release)
					synctest.Wait()
				}
				select {
				case <-done:
				default:
					t.Fatal("Run did not return after Stop")
				}
				if cancelled {
					t.Error("the attempt in flight saw its context cancelled")
				}
				out.mu.Lock()
				defer out.mu.Unlock()
				if _, ok := out.refs["g1"]; ok != tc.wantRef {
					t.Errorf("g1 reported delivered: %v, want %v", ok, tc.wantRef)
				}
				if err := out.errs["g1"]; err != nil {
					t.Errorf("g1 reported failed (%v); a stop reports nothing", err)
				}
				if recv.Attempts() != 1 {
					t.Errorf("%d attempts, want 1: nothing is taken after Stop", recv.Attempts())
				}
			})
		})
	}
}

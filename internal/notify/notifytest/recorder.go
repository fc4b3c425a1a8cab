package notifytest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/notify"
)

// Receiver records what it is sent; Fail, when set, decides each attempt's
// error (nil: delivered).
type Receiver struct {
	name string
	Fail func(n *notify.Notification, attempt int) error
	// Edits makes it a notify.Editor (like Slack with a bot token).
	Edits bool

	mu       sync.Mutex
	hold     func(ctx context.Context)
	attempts int
	sent     []*notify.Notification
	refs     int
}

var _ notify.Receiver = (*Receiver)(nil)

// NewReceiver returns a recording receiver called name.
func NewReceiver(name string) *Receiver { return &Receiver{name: name} }

// Name implements notify.Receiver.
func (r *Receiver) Name() string { return r.name }

// EditsInPlace implements notify.Editor.
func (r *Receiver) EditsInPlace() bool { return r.Edits }

// Send implements notify.Receiver; each delivered notification gets a new
// reference "ref-N" unless its single message already has one.
func (r *Receiver) Send(ctx context.Context, n *notify.Notification) (string, error) {
	r.mu.Lock()
	hold := r.hold
	r.mu.Unlock()
	if hold != nil {
		hold(ctx)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts++
	if r.Fail != nil {
		if err := r.Fail(n, r.attempts); err != nil {
			return "", err
		}
	}
	cp := *n
	cp.Messages = append([]*notify.Message(nil), n.Messages...)
	r.sent = append(r.sent, &cp)
	if len(n.Messages) == 1 && n.Messages[0].Ref != "" {
		return n.Messages[0].Ref, nil
	}
	r.refs++
	return fmt.Sprintf("ref-%d", r.refs), nil
}

// SetHold makes each Send run hold first, outside the receiver's lock:
// a receiver slow to answer. What Send does after hold (fail or record)
// does not depend on ctx: a remote that took the request has it.
func (r *Receiver) SetHold(hold func(ctx context.Context)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hold = hold
}

// Sent returns the delivered notifications.
func (r *Receiver) Sent() []*notify.Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*notify.Notification(nil), r.sent...)
}

// Attempts counts Send calls.
func (r *Receiver) Attempts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.attempts
}

// DeadLetter is one recorded dead letter.
type DeadLetter struct {
	N        *notify.Notification
	Cause    error
	Attempts int
}

// DeadLetters records dead letters.
type DeadLetters struct {
	mu  sync.Mutex
	got []DeadLetter
}

var _ notify.DeadLetterer = (*DeadLetters)(nil)

// DeadLetter implements notify.DeadLetterer.
func (d *DeadLetters) DeadLetter(_ context.Context, n *notify.Notification, cause error, attempts int) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = append(d.got, DeadLetter{n, cause, attempts})
	return nil
}

// Got returns the dead letters so far.
func (d *DeadLetters) Got() []DeadLetter {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]DeadLetter(nil), d.got...)
}

// Alert builds a test alert of rule with fingerprint fp.
func Alert(rule, fp string, state alert.State, labels map[string]string) *alert.Alert {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &alert.Alert{
		ID: alert.MakeID(fp, at, state), Fingerprint: fp, Rule: rule, Severity: "critical", State: state,
		Labels: labels, Summary: rule + " on " + labels["node"], StartsAt: at, WindowStart: at, WindowEnd: at,
		CreatedAt: at, EvidenceSeen: 1, RulesVersion: "test",
	}
}

// Message wraps alerts in a group's first message for receiver: its
// firing alerts are new to the readers (a page); only resolved, it is a
// resolve notice.
func Message(receiver, group string, as ...*alert.Alert) *notify.Message {
	m := &notify.Message{GroupID: group, Receiver: receiver, GroupLabels: map[string]string{"group": group}, Fresh: map[string]bool{}}
	for _, a := range as {
		if a.State == alert.Resolved {
			m.Resolved = append(m.Resolved, a)
		} else {
			m.Firing = append(m.Firing, a)
			m.Fresh[a.Fingerprint] = true
		}
		m.Drill = a.Drill
	}
	if len(m.Firing) == 0 && len(m.Resolved) > 0 {
		m.Kind = notify.KindResolved
	}
	return m
}

// Result is the outcome of DeliverOnce.
type Result struct {
	Ref  string
	Err  error // nil: delivered
	Dead []DeadLetter
}

// DeliverOnce runs m through a real notify.Queue with backoff b to recv and
// returns the outcome: delivered, or dead-lettered with the reason. It works
// inside a synctest bubble (fake time) and outside.
func DeliverOnce(tb testing.TB, recv notify.Receiver, m *notify.Message, b notify.Backoff) Result {
	tb.Helper()
	dlq := &DeadLetters{}
	type outcome struct {
		ref string
		err error
	}
	done := make(chan outcome, 1)
	q := notify.NewQueue(recv, notify.QueueOptions{Backoff: b, Dead: dlq, Done: func(_ *notify.Notification, ref string, err error) {
		done <- outcome{ref, err}
	}})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { q.Run(ctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	q.Enqueue(m)
	o := <-done
	return Result{Ref: o.ref, Err: o.err, Dead: dlq.Got()}
}

// CrashAlert is the incident's page for node: a node-crash alert with a
// kernel BUG in its details and the unclean node.reboot as evidence.
func CrashAlert(node string) *alert.Alert {
	a := Alert("node-crash", "fp-"+node, alert.Firing, map[string]string{"node": node, "cluster": "prod"})
	a.Details = "kernel BUG at include/linux/fs.h:2582; 3.1 GiB free: not OOM"
	ev, err := event.New("node.reboot", "test", "prod", node, a.StartsAt, map[string]any{"clean": false})
	if err != nil {
		panic(err) // a fixed, valid event
	}
	a.Evidence = []event.Event{*ev}
	return a
}

package dispatch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aftershock/aftershock/internal/inhibit"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/route"
)

// queueRun is a receiver's queue and what it has been given: enqueued
// messages not yet reported delivered or dead-lettered (loop-owned).
type queueRun struct {
	q      *notify.Queue
	cancel context.CancelFunc
	out    int
}

// newQueues builds a queue per target and checks that every receiver of
// routing has one.
func (d *Dispatcher) newQueues(routing *route.Routing, targets []Target) (map[string]Target, map[string]*queueRun, error) {
	tm, qs := map[string]Target{}, map[string]*queueRun{}
	for _, t := range targets {
		name := t.Receiver.Name()
		if _, dup := tm[name]; dup {
			return nil, nil, fmt.Errorf("dispatch: receiver %q given twice", name)
		}
		if ed, ok := t.Receiver.(notify.Editor); ok && ed.EditsInPlace() {
			t.Edits = true
		}
		tm[name] = t
		qr := &queueRun{}
		qr.q = notify.NewQueue(counting{t.Receiver, d.hist.tries}, notify.QueueOptions{
			Backoff: t.Backoff, Coalesce: t.Coalesce, Parallel: t.Parallel, Dead: d.o.Dead, Metrics: d.nm, Log: d.log,
			Done: func(n *notify.Notification, ref string, err error) {
				d.doUrgent(func() {
					qr.out -= len(n.Messages)
					d.outcome(n, ref, err)
					d.retireIdle()
				})
			},
		})
		qs[name] = qr
	}
	for _, rc := range routing.Receivers {
		if _, ok := tm[rc.Name]; !ok {
			return nil, nil, fmt.Errorf("dispatch: receiver %q of the routing file was not built", rc.Name)
		}
	}
	return tm, qs, nil
}

// runQueue starts qr's delivery under the dispatcher's run context; once
// Close began, qr never runs and what it is given stays unsent.
func (d *Dispatcher) runQueue(qr *queueRun) {
	ctx, cancel := context.WithCancel(d.runCtx)
	qr.cancel = cancel
	if d.closing {
		return
	}
	d.qwg.Go(func() { qr.q.Run(ctx) })
}

// enqueue hands m to receiver's queue.
func (d *Dispatcher) enqueue(receiver string, m *notify.Message) {
	qr := d.queues[receiver]
	qr.out++
	qr.q.Enqueue(m)
}

// Reconfigure replaces the routing and the receivers with a reload's,
// checked as New checks them. On the loop, in order with the alerts: the
// stored alerts are routed again; a group the new routing still makes
// (same route position, receiver and labels) keeps what it told its
// receiver, a new group is notified after its group_wait, and a group no
// alert routes to any more is dropped (without a resolve notice, as
// Alertmanager does on reload). Messages already queued go out through the
// receivers they were queued for, which then stop. Before Start it takes
// effect when the dispatcher starts.
func (d *Dispatcher) Reconfigure(routing *route.Routing, targets []Target) error {
	if routing == nil {
		return errors.New("dispatch: routing is required")
	}
	tm, qs, err := d.newQueues(routing, targets)
	if err != nil {
		return err
	}
	d.do(func() { d.reconfigure(routing, tm, qs) })
	return nil
}

func (d *Dispatcher) reconfigure(routing *route.Routing, targets map[string]Target, queues map[string]*queueRun) {
	now := time.Now()
	for _, qr := range d.queues {
		d.retired = append(d.retired, qr)
	}
	d.o.Routing, d.targets, d.queues = routing, targets, queues
	for _, qr := range queues {
		d.runQueue(qr)
	}
	d.inhib = inhibit.New(routing.Inhibit)
	before := make(map[string]bool, len(d.groups))
	for id, g := range d.groups {
		g.alerts = map[string]*entry{}
		before[id] = true
	}
	for _, e := range d.alerts {
		e.groups = map[string]*group{}
		d.place(e, now, false)
	}
	routes := map[string]*route.Route{}
	var walk func(*route.Route)
	walk = func(r *route.Route) {
		routes[r.ID] = r
		for _, c := range r.Routes {
			walk(c)
		}
	}
	walk(routing.Root)
	for id, g := range d.groups {
		switch {
		case len(g.alerts) == 0: // routed nowhere now
			g.stop()
			delete(d.groups, id)
			d.m.groups.Dec()
			if g.inflight == nil {
				d.track(d.o.Store.DeleteLog(id), d.logErr("delete log"))
			}
		case !before[id]:
			d.schedule(g, g.route.GroupWait)
		default: // the same position, maybe new timing
			nr := routes[g.route.ID]
			if nr.GroupInterval != g.route.GroupInterval && g.timer != nil {
				d.schedule(g, nr.GroupInterval)
			}
			g.route = nr
		}
	}
	d.retireIdle()
	d.log.Info("routing reconfigured", "routing", routing.File, "receivers", len(targets), "alerts", len(d.alerts), "groups", len(d.groups))
}

// retireIdle stops replaced queues once everything given to them is done.
func (d *Dispatcher) retireIdle() {
	keep := d.retired[:0]
	for _, qr := range d.retired {
		if qr.out > 0 {
			keep = append(keep, qr)
			continue
		}
		if qr.cancel != nil {
			qr.cancel()
		}
	}
	d.retired = keep
}

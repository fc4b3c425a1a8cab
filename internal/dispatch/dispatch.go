// Package dispatch is the alert lifecycle between the ALERTS stream and the
// receivers, after Alertmanager: alerts are routed into groups, each group
// is notified after group_wait, then at most every group_interval when it
// changes, again after repeat_interval while it fires, and once more when
// its alerts resolve. Silenced and inhibited alerts are left out. The state
// (alerts and what each group was last told) is persisted so a restart
// neither forgets nor repeats.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/inhibit"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/route"
)

// Target is a receiver with its delivery settings.
type Target struct {
	Receiver notify.Receiver
	Backoff  notify.Backoff
	// Coalesce is how many group messages may merge into one digest when
	// they queue up (1: never).
	Coalesce int
	// Parallel is how many notifications may be in flight to it at once
	// (notify.QueueOptions.Parallel; 0: one).
	Parallel int
	// Drills says drill alerts may reach it.
	Drills bool
	// Edits says it refreshes its first message of a group in place
	// (notify.Editor), so grown counts need not wait for group_interval.
	Edits bool
}

// Muter says whether active silences mute an alert with labels.
type Muter interface {
	Muted(labels map[string]string, now time.Time) (silenceID string, muted bool)
}

// Options configure a Dispatcher.
type Options struct {
	Routing *route.Routing
	Targets []Target
	Store   Store
	// Silences may be nil (nothing is silenced).
	Silences Muter
	Dead     notify.DeadLetterer
	// Registry receives the lifecycle and delivery metrics (nil: none).
	Registry prometheus.Registerer
	Log      *slog.Logger
	// SweepEvery is how often firing alerts are checked against
	// resolve_timeout (default 1m).
	SweepEvery time.Duration
}

// Dispatcher runs the lifecycle. One goroutine (the loop) owns all state;
// everything else talks to it through do.
type Dispatcher struct {
	o       Options
	log     *slog.Logger
	m       *metrics
	queues  map[string]*queueRun
	targets map[string]Target
	inhib   *inhibit.Inhibitor
	nm      *notify.Metrics
	// runCtx is Start's; retired are queues of receivers a reload
	// replaced, delivering what they hold (loop-owned).
	runCtx  context.Context
	retired []*queueRun

	in chan func()
	// urgent is run by the loop before in: delivery outcomes and Close,
	// which must not wait behind a backlog (a start reading thousands of
	// alert bodies), or a stop would wait for all of it.
	urgent chan func()
	acks   chan ack
	quit   chan struct{}
	cancel context.CancelFunc
	wg     sync.WaitGroup
	qwg    sync.WaitGroup // the queues' Run
	// closing (loop-owned): Close stopped the queues; a reload starts no
	// new ones.
	closing bool

	// Loop-owned state.
	alerts     map[string]*entry
	groups     map[string]*group
	resolvedAt map[string]time.Time // recently forgotten alerts, to refuse stale replays
	hist       histories            // notification history per alert (history.go)
	lazy       lazyBodies           // alerts restored as heads (lazy.go)
}

type entry struct {
	a       *alert.Alert
	labels  map[string]string
	updated time.Time
	groups  map[string]*group
	// news are the alert's recent significant updates (groups tell those
	// after the update they last told).
	news []News
	// head: a holds only the alert's head, restored from the store; its
	// body is read before a message carries it (lazy.go).
	head bool
}

// maxNews bounds the significant updates an alert remembers.
const maxNews = 20

type ack struct {
	p  Pending
	cb func(error)
}

// New checks o and builds a dispatcher; Start runs it.
func New(o Options) (*Dispatcher, error) {
	if o.Routing == nil || o.Store == nil {
		return nil, errors.New("dispatch: routing and store are required")
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.SweepEvery <= 0 {
		o.SweepEvery = time.Minute
	}
	d := &Dispatcher{
		o: o, log: o.Log, m: newMetrics(o.Registry),
		nm:    notify.NewMetrics(o.Registry),
		inhib: inhibit.New(o.Routing.Inhibit),
		in:    make(chan func(), 4096), urgent: make(chan func(), 256), acks: make(chan ack, 1<<16), quit: make(chan struct{}),
		alerts: map[string]*entry{}, groups: map[string]*group{}, resolvedAt: map[string]time.Time{},
		hist: histories{byFP: map[string]*History{}, tries: &tryCounter{tries: map[*notify.Notification]int{}}},
		lazy: newLazyBodies(),
	}
	var err error
	if d.targets, d.queues, err = d.newQueues(o.Routing, o.Targets); err != nil {
		return nil, err
	}
	return d, nil
}

// Start loads the stored state and starts the loop and the receivers'
// queues. Groups with unsent changes are notified after their group_wait.
func (d *Dispatcher) Start(ctx context.Context) error {
	recs, logs, err := d.o.Store.Load(ctx)
	if err != nil {
		return fmt.Errorf("load alert state: %w", err)
	}
	// The run's context first: restoring may flush a group (group_wait 0)
	// that reads its alerts' bodies (lazy.go).
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	d.cancel, d.runCtx = cancel, runCtx
	d.restore(recs, logs)
	d.loadHistories(ctx)
	if rs, ok := d.o.Store.(interface{ Rejected() []error }); ok {
		for _, err := range rs.Rejected() {
			d.m.rejected.WithLabelValues("ALERT_STATE").Inc()
			d.log.Warn("alert state record skipped: not written by a router", "err", err)
		}
	}
	ctx = runCtx
	for _, qr := range d.queues {
		d.runQueue(qr)
	}
	d.wg.Go(func() { d.acker(ctx) })
	d.wg.Go(func() { d.loop(ctx) })
	return nil
}

// Ingest hands an alert from ALERTS to the lifecycle; persisted is called
// once the alert's state is stored (nil) or could not be (the caller should
// let the message be redelivered).
func (d *Dispatcher) Ingest(a *alert.Alert, persisted func(error)) {
	d.do(func() { d.ingest(a, nil, persisted) })
}

// ingest takes a; raw, when given, is a as it was read from ALERTS, which
// the store may keep as it is rather than encode a again.
func (d *Dispatcher) ingest(a *alert.Alert, raw []byte, persisted func(error)) {
	now := time.Now()
	fp := a.Fingerprint
	e := d.alerts[fp]
	var outcome string
	switch {
	case a.Fingerprint == "":
		outcome = "invalid"
	case e != nil && a.CreatedAt.Before(e.a.CreatedAt),
		e == nil && !d.resolvedAt[fp].IsZero() && !a.CreatedAt.After(d.resolvedAt[fp]):
		outcome = "stale"
	case e == nil && a.State == alert.Resolved:
		outcome = "unknown_resolved" // never seen firing, or already forgotten
	case e == nil && now.Sub(a.CreatedAt) > d.o.Routing.ResolveTimeout:
		outcome = "expired"
	}
	if outcome != "" {
		d.m.ingested.WithLabelValues(outcome).Inc()
		d.log.Debug("alert not taken", "alert", a.ID, "fingerprint", fp, "outcome", outcome)
		persisted(nil)
		return
	}
	if len(a.Evidence) > alert.MaxEvidence { // an alert from an older router
		a.Evidence = a.Evidence[:alert.MaxEvidence]
		raw = nil
	}
	dup := e != nil && e.a.ID == a.ID && e.a.State == a.State
	if e == nil {
		e = &entry{groups: map[string]*group{}}
		d.alerts[fp] = e
		delete(d.resolvedAt, fp)
	}
	e.a, e.labels, e.updated, e.head = a, route.Labels(a), now, false
	significant := !dup && a.State == alert.Firing && a.Change != nil && a.Change.Significant
	if significant {
		e.news = append(e.news, News{Update: a.Update, Notes: a.Change.Notes})
		e.news = e.news[max(0, len(e.news)-maxNews):]
	}
	// A duplicate is written again too: its first write may have failed.
	d.track(d.o.Store.PutAlert(&AlertRecord{Alert: a, Updated: now, News: e.news, raw: raw}), persisted)
	if dup {
		d.m.ingested.WithLabelValues("duplicate").Inc()
		return
	}
	d.m.ingested.WithLabelValues(string(a.State)).Inc()
	d.place(e, now, true)
	if a.State == alert.Firing && a.Update > 0 {
		// News about an alert groups already told: significant changes go
		// out after update_interval, not group_interval; receivers that
		// edit in place refresh grown counts as soon.
		for _, g := range e.groups {
			if significant || g.edits {
				d.hurry(g, now, significant)
			}
		}
	}
}

// place updates the inhibitor and puts a firing alert into the groups of
// its routes; a resolved alert stays in the groups that know it. When
// restoring (schedule false) resolved alerts are routed too: their groups
// may still owe a resolve notice.
func (d *Dispatcher) place(e *entry, now time.Time, schedule bool) {
	a := e.a
	if a.State == alert.Resolved {
		d.inhib.Remove(a.Fingerprint)
		if schedule {
			return
		}
	} else {
		d.inhib.Set(a.Fingerprint, e.labels, a.Drill)
	}
	for _, t := range d.targetsFor(a, e.labels) {
		glabels := t.Route.GroupLabels(e.labels)
		key := ""
		if t.Route.GroupByAll {
			// Distinct alerts may share labels (rules group by more than
			// labels), so "..." means one group per alert.
			key = a.Fingerprint
		}
		id := groupID(t.Route.ID, t.Receiver, a.Drill, key, glabels)
		g := d.groups[id]
		if g == nil {
			g = &group{id: id, route: t.Route, receiver: t.Receiver, labels: glabels, drill: a.Drill,
				alerts: map[string]*entry{}, sent: newSent(time.Time{}, 0), created: now, edits: d.targets[t.Receiver].Edits}
			d.groups[id] = g
			d.m.groups.Inc()
			g.alerts[a.Fingerprint] = e
			e.groups[id] = g
			if schedule {
				d.schedule(g, t.Route.GroupWait)
			}
			continue
		}
		g.alerts[a.Fingerprint] = e
		e.groups[id] = g
	}
}

// targetsFor is where the alert goes (route.Destinations); a receiver the
// routing does not define is counted and logged.
func (d *Dispatcher) targetsFor(a *alert.Alert, labels map[string]string) []route.Destination {
	dests, unknown := d.o.Routing.Destinations(labels, a.Receivers, a.Drill)
	for _, name := range unknown {
		d.m.ingested.WithLabelValues("unknown_receiver").Inc()
		d.log.Warn("alert names an unknown receiver", "alert", a.ID, "rule", a.Rule, "receiver", name)
	}
	return dests
}

// restore rebuilds groups from stored alerts and notification logs.
func (d *Dispatcher) restore(recs []*AlertRecord, logs []*LogRecord) {
	now := time.Now()
	for _, rec := range recs {
		if rec.Alert == nil || rec.Alert.Fingerprint == "" {
			continue
		}
		e := &entry{a: rec.Alert, labels: route.Labels(rec.Alert), updated: rec.Updated, groups: map[string]*group{}, news: rec.News, head: rec.Head}
		d.alerts[rec.Alert.Fingerprint] = e
		d.place(e, now, false)
	}
	for _, l := range logs {
		g := d.groups[l.GroupID]
		if g == nil {
			d.track(d.o.Store.DeleteLog(l.GroupID), d.logErr("delete stale log"))
			continue
		}
		g.sent = newSent(l.At, len(l.Firing))
		maps.Copy(g.sent.Firing, l.Firing)
		maps.Copy(g.sent.Updates, l.Updates)
		maps.Copy(g.sent.Starts, l.Starts)
		g.ref = l.Ref
	}
	for _, g := range d.groups {
		d.schedule(g, g.route.GroupWait)
	}
	d.log.Info("alert state restored", "alerts", len(d.alerts), "groups", len(d.groups), "logs", len(logs))
}

// sweep resolves firing alerts nobody refreshed within resolve_timeout and
// forgets old tombstones.
func (d *Dispatcher) sweep(now time.Time) {
	to := d.o.Routing.ResolveTimeout
	var bodies []string
	defer func() { d.readBodies(bodies) }()
	for fp, e := range d.alerts {
		if e.a.State != alert.Firing || now.Sub(e.updated) < to {
			continue
		}
		if e.head { // resolved once its body is read, with its text
			bodies = append(bodies, fp)
			d.lazy.sweep = true
			continue
		}
		r := *e.a
		r.State, r.EndsAt, r.CreatedAt = alert.Resolved, now.UTC(), now.UTC()
		r.ID = alert.MakeID(fp, r.WindowStart, alert.Resolved)
		r.Annotations = map[string]string{"resolved_by": fmt.Sprintf("no update for %s (resolve_timeout)", to)}
		for k, v := range e.a.Annotations {
			r.Annotations[k] = v
		}
		d.m.ingested.WithLabelValues("timed_out").Inc()
		e.a, e.updated = &r, now
		d.track(d.o.Store.PutAlert(&AlertRecord{Alert: &r, Updated: now, News: e.news}), d.logErr("auto-resolve"))
		d.inhib.Remove(fp)
	}
	for fp, at := range d.resolvedAt {
		if now.Sub(at) > to {
			delete(d.resolvedAt, fp)
		}
	}
	d.sweepHistory(now)
}

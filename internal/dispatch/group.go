package dispatch

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/route"
)

// group is an aggregation group: the alerts one route sends to one
// receiver with the same group labels.
type group struct {
	id       string
	route    *route.Route
	receiver string
	labels   map[string]string
	drill    bool
	created  time.Time

	alerts map[string]*entry
	// sent is what the last message said (persisted once delivered).
	sent sentState
	ref  string
	// inflight is the message queued or being delivered: a group has at
	// most one, so a resolve notice is never superseded or sent twice.
	inflight *notify.Message
	// told are the alerts inflight tells something about, by fingerprint,
	// with what it is to each (toldOf): their histories record it.
	told map[string]string
	// deferred: a flush came while a message was in flight.
	deferred bool
	timer    *time.Timer
	// soon is an early flush for news that cannot wait for group_interval,
	// due at soonAt; loud is when the last message that was not a quiet
	// refresh went out (news is paced from it: a refresh notifies nobody).
	soon   *time.Timer
	soonAt time.Time
	loud   time.Time
	// edits: the receiver refreshes its first message in place.
	edits bool
}

type sentState struct {
	At      time.Time
	Firing  map[string]string // fingerprint → alert id
	Updates map[string]int    // fingerprint → update number
	// Starts are the episodes told (fingerprint → starts_at): the same
	// fingerprint firing again with another start is a new incident, not
	// a change of the old one.
	Starts map[string]time.Time
}

func newSent(at time.Time, n int) sentState {
	return sentState{At: at, Firing: make(map[string]string, n), Updates: make(map[string]int, n), Starts: make(map[string]time.Time, n)}
}

// episode is the start of a's episode as told; a log from an older router
// has none, and then the told one is taken as a's.
func (s sentState) episode(a *alert.Alert) time.Time {
	if t, ok := s.Starts[a.Fingerprint]; ok {
		return t
	}
	return a.StartsAt.UTC()
}

func (g *group) stop() {
	if g.timer != nil {
		g.timer.Stop()
	}
	if g.soon != nil {
		g.soon.Stop()
		g.soon = nil
	}
}

func groupID(routeID, receiver string, drill bool, fp string, labels map[string]string) string {
	h := sha256.New()
	h.Write([]byte(routeID))
	h.Write([]byte{0})
	h.Write([]byte(receiver))
	h.Write([]byte{0})
	h.Write([]byte(fp))
	if drill {
		h.Write([]byte{0, 'd'})
	}
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		h.Write([]byte{0})
		h.Write([]byte(k))
		h.Write([]byte{'='})
		h.Write([]byte(labels[k]))
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// schedule flushes g after wait (at once when zero: critical routes page
// without delay), then every group_interval while it lives.
func (d *Dispatcher) schedule(g *group, wait time.Duration) {
	g.stop()
	if wait <= 0 {
		d.tick(g)
		return
	}
	g.timer = time.AfterFunc(wait, func() { d.do(func() { d.tick(g) }) })
}

func (d *Dispatcher) tick(g *group) {
	if d.groups[g.id] != g {
		return // deleted meanwhile
	}
	d.flush(g, time.Now(), true)
	if d.groups[g.id] == g {
		g.stop()
		g.timer = time.AfterFunc(g.route.GroupInterval, func() { d.do(func() { d.tick(g) }) })
	}
}

// flush sends the group's news, if any: alerts firing that the receiver
// has not heard of (or with a new id), resolve notices for alerts it heard
// fire, or a reminder once repeat_interval has passed. regular says the
// group's own timer (group_wait, group_interval) runs it; an early flush
// (update_interval after the last message) sends only news that cannot
// wait: significant updates, and refreshes of receivers that edit in place.
func (d *Dispatcher) flush(g *group, now time.Time, regular bool) {
	if g.inflight != nil {
		g.deferred = true
		return
	}
	var firing, resolved []*alert.Alert
	for fp, e := range g.alerts {
		if e.a.State == alert.Resolved {
			if _, told := g.sent.Firing[fp]; told && g.route.SendResolved {
				resolved = append(resolved, e.a)
			} else {
				d.leave(g, fp) // nothing to say about it
			}
			continue
		}
		if d.muted(e, now) {
			continue
		}
		firing = append(firing, e.a)
	}
	fresh, news, renewed := map[string]bool{}, map[string][]string{}, map[string]bool{}
	for _, a := range firing {
		told, ok := g.sent.Firing[a.Fingerprint]
		switch {
		case !ok || g.sent.episode(a) != a.StartsAt.UTC():
			// Never told, or it resolved and fired again before its resolve
			// notice went out: a new incident pages.
			fresh[a.Fingerprint] = true
		case told != a.ID:
			renewed[a.Fingerprint] = true
			for _, n := range g.alerts[a.Fingerprint].news {
				if n.Update > g.sent.Updates[a.Fingerprint] {
					news[a.Fingerprint] = append(news[a.Fingerprint], n.Notes...)
				}
			}
		}
	}
	kind := notify.KindRepeat
	switch {
	case len(fresh) > 0:
		kind = notify.KindPage
	case len(news) > 0 || len(resolved) > 0 && len(firing) > 0:
		kind = notify.KindUpdate
	case len(resolved) > 0:
		kind = notify.KindResolved
	case len(renewed) > 0:
		kind = notify.KindRefresh
	}
	changed := kind != notify.KindRepeat
	repeat := !changed && len(firing) > 0 && now.Sub(g.sent.At) >= g.route.RepeatInterval
	early := len(news) > 0 || kind == notify.KindRefresh && g.edits && g.ref != ""
	if !changed && !repeat || !regular && !early {
		if regular && len(firing) == 0 && len(g.sent.Firing) > 0 {
			// Everything it was told of is muted or resolved quietly.
			g.sent = newSent(g.sent.At, 0)
		}
		if regular {
			d.maybeDelete(g)
		}
		return
	}
	if d.awaitBodies(g, regular, firing, resolved) {
		return // flushed again once their bodies are read (lazy.go)
	}
	order := func(a, b *alert.Alert) int {
		return cmp.Or(a.StartsAt.Compare(b.StartsAt), cmp.Compare(a.Fingerprint, b.Fingerprint))
	}
	slices.SortFunc(firing, order)
	slices.SortFunc(resolved, order)
	m := &notify.Message{GroupID: g.id, Receiver: g.receiver, GroupLabels: g.labels, Firing: firing,
		Resolved: resolved, Drill: g.drill, Ref: g.ref, Repeat: repeat, Kind: kind, Fresh: fresh, News: news}
	sent := newSent(now, len(firing))
	for _, a := range firing {
		sent.Firing[a.Fingerprint], sent.Updates[a.Fingerprint], sent.Starts[a.Fingerprint] = a.ID, a.Update, a.StartsAt.UTC()
	}
	g.sent, g.inflight, g.told = sent, m, toldOf(m, renewed)
	if kind != notify.KindRefresh {
		g.loud = now
	}
	if g.soon != nil {
		g.soon.Stop()
		g.soon = nil
	}
	d.m.messages.WithLabelValues(g.receiver, kind.String()).Inc()
	d.enqueue(g.receiver, m)
}

// toldOf names the alerts m tells its readers something about, with what
// it is to each (page, update, refresh, resolved): those it pages for, its
// news, alerts whose counts grew (renewed: a new id), and resolve notices;
// a reminder tells of all (nil). Only their histories record m: a group's
// message lists every alert still firing, and recording each message in
// each listed alert's history made an alert storm quadratic (a group of
// 30 000 alerts rewrote 30 000 histories per group_interval).
func toldOf(m *notify.Message, renewed map[string]bool) map[string]string {
	if m.Repeat || m.Kind == notify.KindRepeat {
		return nil
	}
	told := make(map[string]string, len(m.Fresh)+len(m.News)+len(renewed)+len(m.Resolved))
	for fp := range renewed {
		told[fp] = "refresh"
	}
	for fp := range m.News {
		told[fp] = "update"
	}
	for fp := range m.Fresh {
		told[fp] = "page"
	}
	for _, a := range m.Resolved {
		told[a.Fingerprint] = "resolved"
	}
	return told
}

// hurry asks for an early flush of g: news that cannot wait for
// group_interval goes out update_interval after the group's last message
// that notified people, a quiet refresh update_interval after its last
// message of any kind. A group that has not sent its first message yet
// waits for group_wait as usual.
func (d *Dispatcher) hurry(g *group, now time.Time, news bool) {
	if g.sent.At.IsZero() {
		return
	}
	last := g.sent.At
	if news {
		last = g.loud
	}
	due := last.Add(g.route.UpdateInterval)
	if due.Before(now) {
		due = now
	}
	if g.soon != nil {
		if !due.Before(g.soonAt) {
			return // an earlier flush is already due
		}
		g.soon.Stop()
	}
	g.soonAt = due
	g.soon = time.AfterFunc(due.Sub(now), func() {
		d.do(func() {
			if d.groups[g.id] != g {
				return
			}
			g.soon = nil
			d.flush(g, time.Now(), false)
		})
	})
}

func (d *Dispatcher) muted(e *entry, now time.Time) bool {
	if d.o.Silences != nil {
		if _, ok := d.o.Silences.Muted(e.labels, now); ok {
			d.m.muted.WithLabelValues("silence").Inc()
			return true
		}
	}
	if ok, _ := d.inhib.Inhibited(e.a.Fingerprint, e.labels, e.a.Drill); ok {
		d.m.muted.WithLabelValues("inhibition").Inc()
		return true
	}
	return false
}

// outcome records a finished delivery (or dead letter) of n: the groups'
// notification logs are persisted, resolved alerts reported leave their
// groups, and a flush deferred meanwhile runs now.
func (d *Dispatcher) outcome(n *notify.Notification, ref string, err error) {
	d.record(n, err)
	for _, m := range n.Messages {
		g := d.groups[m.GroupID]
		if g == nil || g.inflight != m {
			continue
		}
		g.inflight, g.told = nil, nil
		if g.ref == "" {
			g.ref = ref
		}
		if err != nil {
			d.m.deadLettered.WithLabelValues(g.receiver).Inc()
		}
		for _, a := range m.Resolved {
			if e := g.alerts[a.Fingerprint]; e != nil && e.a.ID == a.ID {
				d.leave(g, a.Fingerprint)
			}
		}
		if d.maybeDelete(g) {
			continue
		}
		d.track(d.o.Store.PutLog(&LogRecord{
			GroupID: g.id, Receiver: g.receiver, Route: g.route.ID, Labels: g.labels, Drill: g.drill,
			At: g.sent.At, Firing: g.sent.Firing, Updates: g.sent.Updates, Starts: g.sent.Starts, Ref: g.ref,
		}), d.logErr("notification log"))
		if g.deferred {
			g.deferred = false
			d.flush(g, time.Now(), true)
		}
	}
}

// leave removes an alert from a group; an alert in no group is forgotten.
func (d *Dispatcher) leave(g *group, fp string) {
	e := g.alerts[fp]
	delete(g.alerts, fp)
	if e == nil {
		return
	}
	delete(e.groups, g.id)
	if len(e.groups) > 0 || d.alerts[fp] != e {
		return
	}
	delete(d.alerts, fp)
	d.resolvedAt[fp] = e.a.CreatedAt
	d.inhib.Remove(fp)
	d.track(d.o.Store.DeleteAlert(fp), d.logErr("delete alert"))
}

// maybeDelete drops an empty group with nothing in flight.
func (d *Dispatcher) maybeDelete(g *group) bool {
	if len(g.alerts) > 0 || g.inflight != nil {
		return false
	}
	g.stop()
	delete(d.groups, g.id)
	d.m.groups.Dec()
	d.track(d.o.Store.DeleteLog(g.id), d.logErr("delete log"))
	return true
}

package dispatch

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/notify"
)

// The notification history of each alert: what its receivers were sent,
// when, how many tries it took, and what was dead-lettered. It is kept in
// ALERT_STATE under history.<fingerprint> for the alert's page, written
// only when the store can (HistoryStore), and forgotten with the alert's
// tombstone, resolve_timeout after the alert left.

const (
	keyHistory = "history."
	// MaxDeliveries bounds an alert's history: the latest are kept.
	MaxDeliveries = 50
)

// Delivery is one message that told (or failed to tell) a receiver about
// an alert.
type Delivery struct {
	At       time.Time `json:"at"`
	Receiver string    `json:"receiver"`
	// Kind is page, update, refresh, repeat or resolved.
	Kind    string `json:"kind"`
	AlertID string `json:"alert_id"`
	Update  int    `json:"update,omitempty"`
	// Outcome is sent or dead_lettered.
	Outcome string `json:"outcome"`
	// Attempts counts the tries; more than one means it was retried.
	Attempts int    `json:"attempts"`
	Error    string `json:"error,omitempty"`
}

// History is an alert's deliveries, oldest first.
type History struct {
	Fingerprint string     `json:"fingerprint"`
	Deliveries  []Delivery `json:"deliveries"`
}

// HistoryStore is a Store that also keeps notification histories.
type HistoryStore interface {
	PutHistory(h *History) Pending
	DeleteHistory(fp string) Pending
}

// PutHistory implements HistoryStore.
func (s *KVStore) PutHistory(h *History) Pending { return s.put(keyHistory+h.Fingerprint, h) }

// DeleteHistory implements HistoryStore.
func (s *KVStore) DeleteHistory(fp string) Pending { return s.purge(keyHistory + fp) }

var _ HistoryStore = (*KVStore)(nil)

// histories is the dispatcher's copy of the histories (loop-owned) and
// the tries of notifications in flight.
type histories struct {
	byFP  map[string]*History
	tries *tryCounter
}

func kindName(k notify.Kind, repeat bool) string {
	switch {
	case repeat || k == notify.KindRepeat:
		return "repeat"
	case k == notify.KindUpdate:
		return "update"
	case k == notify.KindRefresh:
		return "refresh"
	case k == notify.KindResolved:
		return "resolved"
	}
	return "page"
}

// record adds the outcome of n to the histories of the alerts its
// messages tell of (group.told) and stores them; attempts come from the
// try counter. It runs before outcome clears the groups' in-flight state.
func (d *Dispatcher) record(n *notify.Notification, err error) {
	hs, ok := d.o.Store.(HistoryStore)
	if !ok {
		return
	}
	now := time.Now().UTC()
	attempts := d.hist.tries.take(n)
	outcome, reason := "sent", ""
	if err != nil {
		outcome, reason = "dead_lettered", err.Error()
	}
	touched := map[string]bool{}
	for _, m := range n.Messages {
		var told map[string]string // nil: all, as the message's kind
		if g := d.groups[m.GroupID]; g != nil && g.inflight == m {
			told = g.told
		}
		for _, list := range [][]*alert.Alert{m.Firing, m.Resolved} {
			for _, a := range list {
				kind := kindName(m.Kind, m.Repeat)
				if told != nil {
					if kind = told[a.Fingerprint]; kind == "" {
						continue
					}
				}
				h := d.hist.byFP[a.Fingerprint]
				if h == nil {
					h = &History{Fingerprint: a.Fingerprint}
					d.hist.byFP[a.Fingerprint] = h
				}
				h.Deliveries = append(h.Deliveries, Delivery{At: now, Receiver: n.Receiver, Kind: kind,
					AlertID: a.ID, Update: a.Update, Outcome: outcome, Attempts: attempts, Error: reason})
				if over := len(h.Deliveries) - MaxDeliveries; over > 0 {
					h.Deliveries = append([]Delivery(nil), h.Deliveries[over:]...)
				}
				touched[a.Fingerprint] = true
			}
		}
	}
	for fp := range touched {
		cp := &History{Fingerprint: fp, Deliveries: append([]Delivery(nil), d.hist.byFP[fp].Deliveries...)}
		d.track(hs.PutHistory(cp), d.logErr("notification history"))
	}
}

// sweepHistory forgets the histories of alerts the dispatcher no longer
// knows (nor remembers as resolved) once their last delivery is older
// than resolve_timeout.
func (d *Dispatcher) sweepHistory(now time.Time) {
	hs, ok := d.o.Store.(HistoryStore)
	for fp, h := range d.hist.byFP {
		if d.alerts[fp] != nil || !d.resolvedAt[fp].IsZero() {
			continue
		}
		if n := len(h.Deliveries); n > 0 && now.Sub(h.Deliveries[n-1].At) < d.o.Routing.ResolveTimeout {
			continue
		}
		delete(d.hist.byFP, fp)
		if ok {
			d.track(hs.DeleteHistory(fp), d.logErr("delete notification history"))
		}
	}
}

// LoadHistories reads the stored histories (at start).
func (s *KVStore) LoadHistories(ctx context.Context) ([]*History, error) {
	w, err := s.kv.Watch(ctx, keyHistory+">", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read notification histories: %w", err)
	}
	defer stopWatch(w)
	var out []*History
	for {
		var e jetstream.KeyValueEntry
		select {
		case e = <-w.Updates():
		case <-ctx.Done():
			return nil, fmt.Errorf("read notification histories: %w", ctx.Err())
		}
		if e == nil {
			return out, nil
		}
		h, err := decodeHistory(e.Key(), e.Value())
		if err != nil {
			s.mu.Lock()
			s.rejected = append(s.rejected, err)
			s.mu.Unlock()
			continue
		}
		out = append(out, h)
	}
}

func (d *Dispatcher) loadHistories(ctx context.Context) {
	l, ok := d.o.Store.(interface {
		LoadHistories(context.Context) ([]*History, error)
	})
	if !ok {
		return
	}
	hs, err := l.LoadHistories(ctx)
	if err != nil {
		d.log.Warn("notification histories not loaded; they start anew", "err", err)
		return
	}
	for _, h := range hs {
		d.hist.byFP[h.Fingerprint] = h
	}
}

// tryCounter counts the Send calls of each notification: the queue
// retries inside, and its outcome says only how delivery ended.
type tryCounter struct {
	mu    sync.Mutex
	tries map[*notify.Notification]int
}

func (c *tryCounter) take(n *notify.Notification) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := c.tries[n]
	delete(c.tries, n)
	return t
}

// counting is a receiver whose tries are counted.
type counting struct {
	notify.Receiver
	c *tryCounter
}

func (r counting) Send(ctx context.Context, n *notify.Notification) (string, error) {
	r.c.mu.Lock()
	r.c.tries[n]++
	r.c.mu.Unlock()
	return r.Receiver.Send(ctx, n)
}

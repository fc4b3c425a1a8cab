package dispatch

import (
	"context"
	"errors"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
)

// BodyStore is a Store whose Load gives alert heads (AlertRecord.Head):
// the whole records are read when needed (KVStore).
type BodyStore interface {
	Bodies(ctx context.Context, fps []string) (recs map[string]*AlertRecord, failed map[string]error)
}

// lazyBodies is the loop's account of alerts restored as heads: a group
// about to send a message with one of them waits until its body is read,
// and so does the sweep before it resolves one.
type lazyBodies struct {
	// reading are fingerprints being read; waiting the groups held back
	// (regular: flushed by their own timer).
	reading map[string]bool
	waiting map[*group]bool
	// sweep: the sweep waits for bodies to resolve their alerts.
	sweep bool
}

// retryBodies is how long a body that could not be read waits for
// another try.
const retryBodies = time.Second

func newLazyBodies() lazyBodies {
	return lazyBodies{reading: map[string]bool{}, waiting: map[*group]bool{}}
}

// awaitBodies holds g's message back when it would carry alerts known by
// their heads only, and has their bodies read; g is flushed again then.
func (d *Dispatcher) awaitBodies(g *group, regular bool, lists ...[]*alert.Alert) bool {
	var need []string
	for _, list := range lists {
		for _, a := range list {
			if e := g.alerts[a.Fingerprint]; e != nil && e.head {
				need = append(need, a.Fingerprint)
			}
		}
	}
	if len(need) == 0 {
		return false
	}
	d.lazy.waiting[g] = d.lazy.waiting[g] || regular
	d.readBodies(need)
	return true
}

// readBodies reads the bodies of fps in the background and hands them to
// the loop.
func (d *Dispatcher) readBodies(fps []string) {
	bs, ok := d.o.Store.(BodyStore)
	if !ok {
		return
	}
	var want []string
	for _, fp := range fps {
		if !d.lazy.reading[fp] {
			d.lazy.reading[fp] = true
			want = append(want, fp)
		}
	}
	if len(want) == 0 {
		return
	}
	ctx := d.runCtx
	d.wg.Go(func() {
		recs, failed := bs.Bodies(ctx, want)
		d.do(func() { d.hydrate(want, recs, failed) })
	})
}

// hydrate puts the bodies read in place of the heads and flushes the
// groups that waited for them. An alert whose record is gone or not the
// router's is forgotten, as a start that read it whole would have; one
// that could not be read for now is asked for again after a while.
func (d *Dispatcher) hydrate(fps []string, recs map[string]*AlertRecord, failed map[string]error) {
	var retry []string
	for _, fp := range fps {
		delete(d.lazy.reading, fp)
		e := d.alerts[fp]
		if e == nil || !e.head {
			continue // replaced or left meanwhile
		}
		rec := recs[fp]
		switch {
		case rec != nil && rec.Alert.ID == e.a.ID && rec.Alert.State == e.a.State:
			e.a, e.head = rec.Alert, false
		case rec != nil || errors.Is(failed[fp], ErrNoBody):
			err := failed[fp]
			if rec != nil {
				err = errors.New("the record holds another alert than its head")
			}
			d.m.rejected.WithLabelValues("ALERT_STATE").Inc()
			d.log.Warn("alert forgotten: its stored record cannot be read", "fingerprint", fp, "err", err)
			d.forget(fp)
		default:
			retry = append(retry, fp)
		}
	}
	if len(retry) > 0 {
		// Still marked as being read, so the groups flushed below wait for
		// this retry instead of asking again at once.
		for _, fp := range retry {
			d.lazy.reading[fp] = true
		}
		d.log.Warn("alert records not read; trying again", "alerts", len(retry), "err", failed[retry[0]])
		time.AfterFunc(retryBodies, func() {
			d.do(func() {
				for _, fp := range retry {
					delete(d.lazy.reading, fp)
				}
				d.readBodies(retry)
			})
		})
	}
	if d.lazy.sweep {
		d.lazy.sweep = false
		d.sweep(time.Now()) // resolves those it read the bodies of
	}
	// Flush again the groups that waited; one that still needs a body
	// being read waits again.
	waiting := d.lazy.waiting
	d.lazy.waiting = map[*group]bool{}
	now := time.Now()
	for g, regular := range waiting {
		if d.groups[g.id] == g {
			d.flush(g, now, regular)
		}
	}
}

// forget drops an alert from memory (its record is not the router's).
func (d *Dispatcher) forget(fp string) {
	e := d.alerts[fp]
	if e == nil {
		return
	}
	for id, g := range e.groups {
		delete(g.alerts, fp)
		delete(e.groups, id)
	}
	delete(d.alerts, fp)
	d.inhib.Remove(fp)
}

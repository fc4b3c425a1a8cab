package webui

import (
	"container/list"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
)

// AlertLog follows the ALERTS stream from a while back and keeps, per
// fingerprint, every version of the alert (firing, its updates, its
// resolution): the pages show recent alerts, resolved ones too, and how
// each grew. It is bounded: past MaxAlerts the least recently changed
// alert is dropped.
//
// A version is kept as the router encoded it until a page reads it: in a
// storm most alerts are never looked at, and decoding each cost the
// router a decode per alert (a twentieth of its CPU at 10 000 alerts/s),
// and the collector a scan of every decoded alert it kept.
type AlertLog struct {
	log *slog.Logger
	max int

	mu     sync.Mutex
	byFP   map[string]*history
	lru    *list.List // fingerprints, least recently changed first
	cc     jetstream.ConsumeContext
	synced chan struct{}
	once   sync.Once
}

// history is one alert's versions in stream order, and its place in the
// LRU list.
type history struct {
	versions []*version
	at       *list.Element
}

// version is one ALERTS message: raw until read, then decoded (a is nil
// if it did not decode as an alert the router published).
type version struct {
	id, subject string
	raw         []byte
	a           *alert.Alert
}

// MaxAlerts bounds the AlertLog; MaxVersions the versions kept of one.
// Only the latest version keeps its evidence and tally (a page shows the
// others as one line each), so a full log stays in tens of megabytes.
const (
	MaxAlerts   = 2000
	MaxVersions = 20
)

// FollowAlerts starts reading ALERTS from since ago. It returns at once;
// Synced is closed when the stored alerts have been read.
func FollowAlerts(ctx context.Context, js jetstream.JetStream, since time.Duration, log *slog.Logger) (*AlertLog, error) {
	l := newAlertLog(log)
	start := time.Now().Add(-since)
	oc, err := js.OrderedConsumer(ctx, bus.StreamAlerts, jetstream.OrderedConsumerConfig{
		DeliverPolicy: jetstream.DeliverByStartTimePolicy, OptStartTime: &start,
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", bus.StreamAlerts, err)
	}
	info, err := oc.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", bus.StreamAlerts, err)
	}
	if info.NumPending == 0 {
		l.once.Do(func() { close(l.synced) })
	}
	l.cc, err = oc.Consume(func(m jetstream.Msg) {
		l.take(m.Subject(), m.Headers().Get(jetstream.MsgIDHeader), m.Data())
		if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
			l.once.Do(func() { close(l.synced) })
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", bus.StreamAlerts, err)
	}
	return l, nil
}

func newAlertLog(log *slog.Logger) *AlertLog {
	return &AlertLog{log: log, max: MaxAlerts, byFP: map[string]*history{}, lru: list.New(), synced: make(chan struct{})}
}

// Synced is closed once the alerts stored at start have been read.
func (l *AlertLog) Synced() <-chan struct{} { return l.synced }

// Stop stops following.
func (l *AlertLog) Stop() {
	if l.cc != nil {
		l.cc.Stop()
	}
}

// take keeps an ALERTS message. One that does not begin as the router
// writes alerts is decoded at once, to keep it or say why not.
func (l *AlertLog) take(subject, msgID string, data []byte) {
	id, fp, ok := alert.Identity(data)
	if ok && fp != "" && id == msgID {
		l.add(fp, &version{id: id, subject: subject, raw: data})
		return
	}
	a, err := alert.Stored(subject, msgID, data)
	if err != nil {
		l.log.Debug("ALERTS message that is not the router's ignored", "subject", subject, "err", err)
		return
	}
	l.add(a.Fingerprint, &version{id: a.ID, subject: subject, a: a})
}

func (l *AlertLog) add(fp string, v *version) {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.byFP[fp]
	if h == nil {
		h = &history{at: l.lru.PushBack(fp)}
		l.byFP[fp] = h
	}
	vs := h.versions
	if slices.ContainsFunc(vs, func(o *version) bool { return o.id == v.id }) {
		return // a replayed publish
	}
	if n := len(vs); n > 0 {
		// only the latest keeps its evidence and tally
		if a := l.decoded(fp, vs[n-1]); a != nil {
			slim := *a
			slim.Evidence, slim.Tally = nil, nil
			vs[n-1] = &version{id: a.ID, subject: vs[n-1].subject, a: &slim}
		} else {
			vs = vs[:n-1]
		}
	}
	vs = append(vs, v)
	if len(vs) > MaxVersions {
		vs = slices.Delete(vs, 1, len(vs)-MaxVersions+1) // keep the first and the latest
	}
	h.versions = vs
	l.lru.MoveToBack(h.at)
	for len(l.byFP) > l.max {
		delete(l.byFP, l.lru.Remove(l.lru.Front()).(string))
	}
}

// decoded returns v's alert, decoding it the first time (l.mu held); nil
// if it is not an alert the router published, with the fingerprint its
// head gave.
func (l *AlertLog) decoded(fp string, v *version) *alert.Alert {
	if v.raw == nil {
		return v.a
	}
	a, err := alert.Stored(v.subject, v.id, v.raw)
	if err == nil && a.Fingerprint != fp {
		err = fmt.Errorf("fingerprint %q, where it began with %q", a.Fingerprint, fp)
	}
	if err != nil {
		l.log.Debug("ALERTS message that is not the router's ignored", "subject", v.subject, "err", err)
		a = nil
	}
	v.a, v.raw = a, nil
	return a
}

// Versions returns the versions of the alert fp, oldest first (shared:
// do not modify).
func (l *AlertLog) Versions(fp string) []*alert.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	h := l.byFP[fp]
	if h == nil {
		return nil
	}
	var out []*alert.Alert
	for _, v := range h.versions {
		if a := l.decoded(fp, v); a != nil {
			out = append(out, a)
		}
	}
	return out
}

// Latest returns the latest version of every alert.
func (l *AlertLog) Latest() []*alert.Alert {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]*alert.Alert, 0, len(l.byFP))
	for fp, h := range l.byFP {
		for i := len(h.versions) - 1; i >= 0; i-- {
			if a := l.decoded(fp, h.versions[i]); a != nil {
				out = append(out, a)
				break
			}
		}
	}
	return out
}

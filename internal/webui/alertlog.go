package webui

import (
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
// each grew. It is bounded: the least recently changed alerts are dropped
// past MaxAlerts (a tenth of them at once).
type AlertLog struct {
	log *slog.Logger
	max int

	mu     sync.RWMutex
	byFP   map[string][]*alert.Alert // versions in stream order
	seen   map[string]time.Time      // last change, wall clock
	cc     jetstream.ConsumeContext
	synced chan struct{}
	once   sync.Once
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
	l := &AlertLog{log: log, max: MaxAlerts, byFP: map[string][]*alert.Alert{}, seen: map[string]time.Time{}, synced: make(chan struct{})}
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
		a, err := alert.Stored(m.Subject(), m.Headers().Get(jetstream.MsgIDHeader), m.Data())
		if err != nil {
			l.log.Debug("ALERTS message that is not the router's ignored", "subject", m.Subject(), "err", err)
		} else {
			l.add(a)
		}
		if md, err := m.Metadata(); err == nil && md.NumPending == 0 {
			l.once.Do(func() { close(l.synced) })
		}
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", bus.StreamAlerts, err)
	}
	return l, nil
}

// Synced is closed once the alerts stored at start have been read.
func (l *AlertLog) Synced() <-chan struct{} { return l.synced }

// Stop stops following.
func (l *AlertLog) Stop() {
	if l.cc != nil {
		l.cc.Stop()
	}
}

func (l *AlertLog) add(a *alert.Alert) {
	l.mu.Lock()
	defer l.mu.Unlock()
	vs := l.byFP[a.Fingerprint]
	if slices.ContainsFunc(vs, func(v *alert.Alert) bool { return v.ID == a.ID }) {
		return // a replayed publish
	}
	if n := len(vs); n > 0 {
		slim := *vs[n-1]
		slim.Evidence, slim.Tally = nil, nil
		vs[n-1] = &slim
	}
	vs = append(vs, a)
	if len(vs) > MaxVersions {
		vs = slices.Delete(vs, 1, len(vs)-MaxVersions+1) // keep the first and the latest
	}
	l.byFP[a.Fingerprint] = vs
	l.seen[a.Fingerprint] = time.Now()
	if len(l.byFP) > l.max {
		l.evict()
	}
}

// evict forgets the alerts seen longest ago, a tenth of the cap at once:
// one scan per many alerts, not one per alert (at 10 000 alerts/s a scan
// per alert was a tenth of the router's CPU).
func (l *AlertLog) evict() {
	type fpAt struct {
		fp string
		at time.Time
	}
	all := make([]fpAt, 0, len(l.seen))
	for fp, t := range l.seen {
		all = append(all, fpAt{fp, t})
	}
	slices.SortFunc(all, func(a, b fpAt) int { return a.at.Compare(b.at) })
	for _, e := range all[:len(all)-l.max*9/10] {
		delete(l.byFP, e.fp)
		delete(l.seen, e.fp)
	}
}

// Versions returns the versions of the alert fp, oldest first (shared:
// do not modify).
func (l *AlertLog) Versions(fp string) []*alert.Alert {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return slices.Clone(l.byFP[fp])
}

// Latest returns the latest version of every alert.
func (l *AlertLog) Latest() []*alert.Alert {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]*alert.Alert, 0, len(l.byFP))
	for _, vs := range l.byFP {
		out = append(out, vs[len(vs)-1])
	}
	return out
}

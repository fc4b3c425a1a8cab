package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"
)

// StateView is a read-only copy of the ALERT_STATE bucket, kept current
// by watching it: what the notifying router (whichever holds the lease)
// stored about alerts and deliveries. Every router can serve it (the web
// pages, the Alertmanager API) without touching the lifecycle. It is safe
// for concurrent use.
type StateView struct {
	log    *slog.Logger
	mu     sync.RWMutex
	alerts map[string]*AlertRecord // by fingerprint
	logs   map[string]*LogRecord   // by group id
	hist   map[string]*History     // by fingerprint
	bad    map[string]error
	synced chan struct{}
}

// WatchState loads the bucket and follows it until ctx ends. A record that
// does not decode is logged and left out (see Invalid), never fatal.
func WatchState(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger) (*StateView, error) {
	v, err := FollowState(ctx, kv, log)
	if err != nil {
		return nil, err
	}
	select {
	case <-v.synced:
		return v, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("watch alert state: %w", ctx.Err())
	}
}

// FollowState is WatchState without waiting: the view fills as the bucket
// is read (Synced says when it has caught up), so a start is not held up
// by tens of thousands of stored alerts.
func FollowState(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger) (*StateView, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch alert state: %w", err)
	}
	v := &StateView{log: log, alerts: map[string]*AlertRecord{}, logs: map[string]*LogRecord{}, hist: map[string]*History{}, bad: map[string]error{},
		synced: make(chan struct{})}
	go v.follow(ctx, w)
	return v, nil
}

// Synced is closed once the view has read what the bucket held when it
// started following it.
func (v *StateView) Synced() <-chan struct{} { return v.synced }

func (v *StateView) follow(ctx context.Context, w jetstream.KeyWatcher) {
	defer stopWatch(w)
	synced := false
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil && !synced { // caught up
				synced = true
				close(v.synced)
			}
			if e != nil {
				v.apply(e)
			}
		case <-ctx.Done():
			return
		}
	}
}

func (v *StateView) apply(e jetstream.KeyValueEntry) {
	v.mu.Lock()
	defer v.mu.Unlock()
	k := e.Key()
	delete(v.bad, k)
	del := e.Operation() != jetstream.KeyValuePut
	switch {
	case strings.HasPrefix(k, keyAlert):
		fp := strings.TrimPrefix(k, keyAlert)
		delete(v.alerts, fp)
		if del {
			return
		}
		r, err := decodeAlertRecord(k, e.Value())
		if err != nil {
			v.invalid(k, err)
			return
		}
		v.alerts[fp] = r
	case strings.HasPrefix(k, keyHistory):
		fp := strings.TrimPrefix(k, keyHistory)
		delete(v.hist, fp)
		if del {
			return
		}
		h, err := decodeHistory(k, e.Value())
		if err != nil {
			v.invalid(k, err)
			return
		}
		v.hist[fp] = h
	case strings.HasPrefix(k, keyLog):
		id := strings.TrimPrefix(k, keyLog)
		delete(v.logs, id)
		if del {
			return
		}
		r, err := decodeLogRecord(k, e.Value())
		if err != nil {
			v.invalid(k, err)
			return
		}
		v.logs[id] = r
	}
}

func (v *StateView) invalid(key string, err error) {
	v.bad[key] = err
	if v.log != nil {
		v.log.Warn("alert state record ignored", "key", key, "err", err)
	}
}

// Alerts returns the stored alerts (firing, and resolved ones whose
// resolve notice is still owed), by fingerprint order. The records are
// shared: callers must not modify them.
func (v *StateView) Alerts() []*AlertRecord {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]*AlertRecord, 0, len(v.alerts))
	for _, fp := range slices.Sorted(maps.Keys(v.alerts)) {
		out = append(out, v.alerts[fp])
	}
	return out
}

// Alert returns the stored alert with fingerprint fp, or nil.
func (v *StateView) Alert(fp string) *AlertRecord {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.alerts[fp]
}

// Logs returns the notification logs of the groups, by group id order.
// The records are shared: callers must not modify them.
func (v *StateView) Logs() []*LogRecord {
	v.mu.RLock()
	defer v.mu.RUnlock()
	out := make([]*LogRecord, 0, len(v.logs))
	for _, id := range slices.Sorted(maps.Keys(v.logs)) {
		out = append(out, v.logs[id])
	}
	return out
}

// History returns the notification history of the alert fp, or nil. It
// is shared: callers must not modify it.
func (v *StateView) History(fp string) *History {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.hist[fp]
}

// Invalid counts records that did not decode.
func (v *StateView) Invalid() int {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return len(v.bad)
}

package dispatch

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
)

// StateView is a read-only copy of the ALERT_STATE bucket, kept current
// by watching it: what the notifying router (whichever holds the lease)
// stored about alerts and deliveries. Every router can serve it (the web
// pages, the Alertmanager API) without touching the lifecycle. It is safe
// for concurrent use.
//
// Records are decoded when first read, not as they arrive: under an
// incident's load the notifier rewrites the same keys (an alert's growing
// evidence, a group's log, a history) many times between two reads of the
// pages or two metric scrapes, and decoding every revision as it came was
// the view's whole cost (7 % of a router's CPU at 10 000 alerts/s).
type StateView struct {
	log    *slog.Logger
	mu     sync.RWMutex
	raw    map[string][]byte       // latest revisions not decoded yet, by key
	alerts map[string]*AlertRecord // by fingerprint
	logs   map[string]*LogRecord   // by group id
	hist   map[string]*History     // by fingerprint
	briefs map[string]AlertBrief   // by fingerprint: see Briefs
	bad    map[string]error
	synced chan struct{}
}

// WatchState loads the bucket and follows it until ctx ends. A record that
// does not decode is logged (when first read) and left out (see Invalid),
// never fatal.
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
	v := &StateView{log: log, raw: map[string][]byte{}, alerts: map[string]*AlertRecord{}, logs: map[string]*LogRecord{}, hist: map[string]*History{},
		briefs: map[string]AlertBrief{}, bad: map[string]error{}, synced: make(chan struct{})}
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

// apply notes a revision of a key: a deletion at once, a value to decode
// when it is read.
func (v *StateView) apply(e jetstream.KeyValueEntry) {
	k := e.Key()
	if !strings.HasPrefix(k, keyAlert) && !strings.HasPrefix(k, keyHistory) && !strings.HasPrefix(k, keyLog) {
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	v.forget(k)
	if e.Operation() == jetstream.KeyValuePut {
		// A copy: the value shares its array with the message's headers
		// (an alert record's head, heads.go), which the view never reads.
		v.raw[k] = bytes.Clone(e.Value())
	}
}

// forget drops what the view knows of key k.
func (v *StateView) forget(k string) {
	delete(v.raw, k)
	delete(v.bad, k)
	switch {
	case strings.HasPrefix(k, keyAlert):
		delete(v.alerts, strings.TrimPrefix(k, keyAlert))
		delete(v.briefs, strings.TrimPrefix(k, keyAlert))
	case strings.HasPrefix(k, keyHistory):
		delete(v.hist, strings.TrimPrefix(k, keyHistory))
	case strings.HasPrefix(k, keyLog):
		delete(v.logs, strings.TrimPrefix(k, keyLog))
	}
}

// decode decodes the pending revision of key k, if any (v.mu held for
// writing).
func (v *StateView) decode(k string) {
	b, ok := v.raw[k]
	if !ok {
		return
	}
	delete(v.raw, k)
	var err error
	switch {
	case strings.HasPrefix(k, keyAlert):
		var r *AlertRecord
		if r, err = decodeAlertRecord(k, b); err == nil {
			v.alerts[strings.TrimPrefix(k, keyAlert)] = r
		}
	case strings.HasPrefix(k, keyHistory):
		var h *History
		if h, err = decodeHistory(k, b); err == nil {
			v.hist[strings.TrimPrefix(k, keyHistory)] = h
		}
	case strings.HasPrefix(k, keyLog):
		var r *LogRecord
		if r, err = decodeLogRecord(k, b); err == nil {
			v.logs[strings.TrimPrefix(k, keyLog)] = r
		}
	}
	if err != nil {
		v.invalid(k, err)
	}
}

// read runs f under the read lock once the revisions of keys (all when
// none are named) are decoded.
func (v *StateView) read(f func(), keys ...string) {
	v.mu.RLock()
	if !v.undecoded(keys) {
		defer v.mu.RUnlock()
		f()
		return
	}
	v.mu.RUnlock()
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(keys) == 0 {
		for k := range v.raw {
			v.decode(k)
		}
	}
	for _, k := range keys {
		v.decode(k)
	}
	f()
}

func (v *StateView) undecoded(keys []string) bool {
	if len(keys) == 0 {
		return len(v.raw) > 0
	}
	for _, k := range keys {
		if _, ok := v.raw[k]; ok {
			return true
		}
	}
	return false
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
	var out []*AlertRecord
	v.read(func() {
		out = make([]*AlertRecord, 0, len(v.alerts))
		for _, fp := range slices.Sorted(maps.Keys(v.alerts)) {
			out = append(out, v.alerts[fp])
		}
	})
	return out
}

// AlertBrief is what the firing metric reads of a stored alert.
type AlertBrief struct {
	Rule, Severity string
	State          alert.State
	Drill          bool
}

func briefOf(a *alert.Alert) AlertBrief {
	return AlertBrief{Rule: a.Rule, Severity: a.Severity, State: a.State, Drill: a.Drill}
}

// Briefs calls f (which must not call the view) with the brief of every
// stored alert, in no order. A record not read yet is decoded for its
// brief and not kept decoded: the metric that counts firing alerts is
// scraped every few seconds, and reading every alert for it as Alerts does
// kept them all decoded, 3.5 KB of pointers per alert where the raw record
// is 2 KB of bytes the collector does not scan (BenchmarkRestore, 57 000
// alerts: the view after a scrape 257 MB then, 160 MB now).
func (v *StateView) Briefs(f func(AlertBrief)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, r := range v.alerts { // a key is decoded or raw, never both
		f(briefOf(r.Alert))
	}
	for k, b := range v.raw {
		fp, ok := strings.CutPrefix(k, keyAlert)
		if !ok {
			continue
		}
		br, ok := v.briefs[fp]
		if !ok {
			r, err := decodeAlertRecord(k, b)
			if err != nil {
				delete(v.raw, k)
				v.invalid(k, err)
				continue
			}
			br = briefOf(r.Alert)
			v.briefs[fp] = br
		}
		f(br)
	}
}

// Alert returns the stored alert with fingerprint fp, or nil.
func (v *StateView) Alert(fp string) *AlertRecord {
	var r *AlertRecord
	v.read(func() { r = v.alerts[fp] }, keyAlert+fp)
	return r
}

// Logs returns the notification logs of the groups, by group id order.
// The records are shared: callers must not modify them.
func (v *StateView) Logs() []*LogRecord {
	var out []*LogRecord
	v.read(func() {
		out = make([]*LogRecord, 0, len(v.logs))
		for _, id := range slices.Sorted(maps.Keys(v.logs)) {
			out = append(out, v.logs[id])
		}
	})
	return out
}

// History returns the notification history of the alert fp, or nil. It
// is shared: callers must not modify it.
func (v *StateView) History(fp string) *History {
	var h *History
	v.read(func() { h = v.hist[fp] }, keyHistory+fp)
	return h
}

// Invalid counts records that did not decode.
func (v *StateView) Invalid() int {
	var n int
	v.read(func() { n = len(v.bad) })
	return n
}

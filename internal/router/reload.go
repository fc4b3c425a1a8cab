package router

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
)

// rulesRuntime is the router's rule-engine plumbing: reloads, the idle
// clock, and what the event handler needs to stay exactly-once.
type rulesRuntime struct {
	// lastSeq is the last EVENTS sequence the engine has processed: a
	// redelivery at or below it is acked without processing.
	lastSeq atomic.Uint64
	// pending is the consumer's backlog as of the last message.
	pending atomic.Uint64
	// runCtx ends when the router closes, stopping publish retries.
	runCtx    context.Context
	runCancel context.CancelFunc

	reloadMu     sync.Mutex
	reloadFailed time.Time // start of the current failure streak; zero when healthy
	wg           sync.WaitGroup
}

// ReloadAlertRule names the alert raised when a reload fails.
const ReloadAlertRule = "aftershock-rules-reload"

// Timing of the rule runtime (variables so tests can shorten them).
var (
	reloadDebounce = 300 * time.Millisecond
	tickEvery      = 5 * time.Second
	// tickLag keeps the idle clock behind the wall clock by more than an
	// event's usual trip from node to router.
	tickLag = 10 * time.Second
)

// startRuntime starts the rules watcher and the idle clock.
func (r *Router) startRuntime() error {
	r.runCtx, r.runCancel = context.WithCancel(context.Background())
	r.pending.Store(pendingUnknown)
	r.wg.Add(1)
	go r.idleClock()
	if r.opts.NoRulesWatch {
		r.stops = append(r.stops, func() { r.runCancel(); r.wg.Wait() })
		return nil
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch rules: %w", err)
	}
	if err := watchTree(w, r.opts.RulesDir); err != nil {
		w.Close()
		r.runCancel()
		r.wg.Wait()
		return fmt.Errorf("watch rules %s: %w", r.opts.RulesDir, err)
	}
	r.wg.Add(1)
	go r.watchRules(w)
	r.stops = append(r.stops, func() {
		r.runCancel()
		w.Close()
		r.wg.Wait()
	})
	return nil
}

// watchTree watches dir and its subdirectories (fsnotify is not recursive).
func watchTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && strings.HasPrefix(d.Name(), ".") && !strings.HasPrefix(d.Name(), "..") {
				return filepath.SkipDir
			}
			return w.Add(p)
		}
		return nil
	})
}

// watchRules reloads after file changes settle. Any change in the tree
// counts, so a Kubernetes ConfigMap's symlink swap is seen too; a reload
// that finds the same version changes nothing.
func (r *Router) watchRules(w *fsnotify.Watcher) {
	defer r.wg.Done()
	var debounce <-chan time.Time
	for {
		select {
		case <-r.runCtx.Done():
			return
		case ev, ok := <-w.Events:
			if !ok {
				return
			}
			if ev.Has(fsnotify.Create) {
				_ = watchTree(w, ev.Name) // a new subdirectory; files fail harmlessly
			}
			debounce = time.After(reloadDebounce)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			r.log.Warn("rules watcher", "err", err)
		case <-debounce:
			debounce = nil
			_ = r.Reload(r.runCtx)
		}
	}
}

// Reload checks the rule pack on disk and, if it is good, swaps it in;
// windows of unchanged rules carry over. A bad pack is logged, counted,
// raised as an alert, and the running set stays.
func (r *Router) Reload(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	set, err := LoadRules(r.opts.RulesDir, r.opts.Receivers)
	if err == nil && r.part != nil {
		err = r.part.check(set)
	}
	if err != nil {
		r.m.reloads.WithLabelValues("failure").Inc()
		r.m.reloadOK.Set(0)
		r.log.Error("rules reload rejected; the previous rules keep running", "dir", r.opts.RulesDir, "version", r.engine.Set().Version, "err", err)
		if r.reloadFailed.IsZero() {
			r.reloadFailed = time.Now().UTC()
		}
		r.publishRetrying(ctx, r.reloadAlert(alert.Firing, err), nil)
		return err
	}
	if set.Version == r.engine.Set().Version && r.reloadFailed.IsZero() {
		return nil // nothing changed (a touch, an editor's temp file)
	}
	resolved := r.engine.Swap(set)
	if r.part != nil {
		resolved = append(resolved, r.part.swap(set)...)
	}
	for _, a := range resolved {
		r.publishRetrying(ctx, a, nil)
	}
	if !r.reloadFailed.IsZero() {
		r.publishRetrying(ctx, r.reloadAlert(alert.Resolved, nil), nil)
		r.reloadFailed = time.Time{}
	}
	r.m.reloads.WithLabelValues("success").Inc()
	r.m.reloadOK.Set(1)
	r.m.rulesLoaded.Set(float64(len(set.Rules)))
	r.log.Info("rules reloaded", "dir", r.opts.RulesDir, "rules", len(set.Rules), "version", set.Version, "resolved_by_reload", len(resolved))
	return nil
}

// reloadAlert says the rules on disk are broken while older rules run.
func (r *Router) reloadAlert(state alert.State, err error) *alert.Alert {
	fp := alert.Fingerprint(ReloadAlertRule, r.opts.RulesDir)
	now := time.Now().UTC()
	a := &alert.Alert{
		ID: alert.MakeID(fp, r.reloadFailed, state), Fingerprint: fp, Rule: ReloadAlertRule,
		Severity: "warning", State: state, GroupKey: r.opts.RulesDir,
		Labels:   map[string]string{"component": "router", "rules_dir": r.opts.RulesDir},
		StartsAt: r.reloadFailed, WindowStart: r.reloadFailed, WindowEnd: now,
		RulesVersion: r.engine.Set().Version, CreatedAt: now,
	}
	if state == alert.Firing {
		a.Summary = fmt.Sprintf("rules in %s do not load; still running version %s", r.opts.RulesDir, r.engine.Set().Version)
		a.Details = err.Error()
	} else {
		a.Summary = fmt.Sprintf("rules in %s load again", r.opts.RulesDir)
		a.EndsAt = now
	}
	return a
}

// idleClock advances the live timeline when events do not: with a whole
// cluster silent, absence must still be judged. It only runs while the
// router is connected and caught up, so a backlog being consumed (or an
// outage of NATS itself) never looks like every node going silent.
func (r *Router) idleClock() {
	defer r.wg.Done()
	t := time.NewTicker(tickEvery)
	defer t.Stop()
	for {
		select {
		case <-r.runCtx.Done():
			return
		case now := <-t.C:
			if !r.conn.NC.IsConnected() {
				continue
			}
			var alerts []*alert.Alert
			switch {
			case r.part != nil: // each lane knows whether it is caught up
				alerts = r.part.advance(now.Add(-tickLag))
			case r.caughtUp():
				alerts = r.engine.Advance(now.Add(-tickLag))
			default:
				continue
			}
			for _, a := range alerts {
				if !r.publishRetrying(r.runCtx, a, nil) {
					return
				}
			}
		}
	}
}

// pendingUnknown marks the backlog as unknown: before the first event of
// this start, the durable consumer is asked.
const pendingUnknown = ^uint64(0)

func (r *Router) caughtUp() bool {
	switch p := r.pending.Load(); p {
	case 0:
		return true
	case pendingUnknown:
		ctx, cancel := context.WithTimeout(r.runCtx, 2*time.Second)
		defer cancel()
		cons, err := r.conn.JS.Consumer(ctx, bus.StreamEvents, r.opts.Consumer)
		if err != nil {
			return false
		}
		info, err := cons.Info(ctx)
		if err != nil || info.NumPending > 0 || info.NumAckPending > 0 {
			return false
		}
		r.pending.CompareAndSwap(pendingUnknown, 0)
		return true
	}
	return false
}

// publishRetrying publishes until it succeeds or ctx ends (false). While
// it waits, msg (the event being handled, if any) is kept in progress.
func (r *Router) publishRetrying(ctx context.Context, a *alert.Alert, msg jetstream.Msg) bool {
	backoff := 100 * time.Millisecond
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		err := r.publishAlert(pctx, a)
		cancel()
		if err == nil {
			return true
		}
		r.m.events.WithLabelValues("retry").Inc()
		r.log.Warn("publish alert failed; retrying", "alert", a.ID, "rule", a.Rule, "err", err)
		if msg != nil {
			_ = msg.InProgress()
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

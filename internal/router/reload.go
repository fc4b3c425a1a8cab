package router

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/receivers"
	"github.com/aftershock/aftershock/internal/route"
	"github.com/aftershock/aftershock/internal/rule"
)

// rulesRuntime is the router's rule plumbing: reloads and the idle clock.
type rulesRuntime struct {
	// runCtx ends when the router closes: alerts the clock and reloads
	// raise stop waiting for the outbox.
	runCtx    context.Context
	runCancel context.CancelFunc

	reloadMu     sync.Mutex
	reloadFailed time.Time // start of the current failure streak; zero when healthy
	wg           sync.WaitGroup
}

// ReloadAlertRule names the alert raised when a reload fails.
const ReloadAlertRule = "aftershock-rules-reload"

// snapshot is what a reload checks and swaps in as one: the rules, checked
// against the receivers of the routing read with them, and those receivers
// built (secrets resolved). What a reload accepts is what runs.
type snapshot struct {
	set     *rule.Set
	routing *route.Routing
	targets []dispatch.Target
	// part and fleet divide set for the partitioned mode (else nil).
	part, fleet *rule.Set
}

// loadSnapshot reads the rules directory: routing.yaml, the rules checked
// against its receivers, the receivers built.
func (r *Router) loadSnapshot() (*snapshot, error) {
	dir := r.opts.RulesDir
	routing, err := route.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("routing:\n%w", err)
	}
	set, err := LoadRules(dir, func(string) (*route.Routing, error) { return routing, nil })
	if err != nil {
		return nil, err
	}
	targets, err := receivers.Build(routing, receivers.Deps{Console: r.opts.Console, Getenv: r.opts.Getenv})
	if err != nil {
		return nil, fmt.Errorf("receivers in %s:\n%w", routing.File, err)
	}
	s := &snapshot{set: set, routing: routing, targets: targets}
	if r.opts.Partitions > 0 {
		if s.part, s.fleet, err = splitRules(set); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// startRuntime starts the rules watcher and the idle clock.
func (r *Router) startRuntime() error {
	r.runCtx, r.runCancel = context.WithCancel(context.Background())
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
			debounce = time.After(r.opts.Timeouts.ReloadDebounce)
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

// Reload checks the rules directory (rules and routing as one snapshot)
// and, if it is good, swaps it in: windows of unchanged rules carry over,
// the notifier takes the new routing and receivers. A bad directory is
// logged, counted, raised as an alert, and what runs stays.
func (r *Router) Reload(ctx context.Context) error {
	r.reloadMu.Lock()
	defer r.reloadMu.Unlock()
	old := r.snap.Load()
	snap, err := r.loadSnapshot()
	if err != nil {
		return r.reloadRejected(ctx, "rules reload rejected; the previous rules keep running", old, err)
	}
	if snap.set.Version == old.set.Version && r.reloadFailed.IsZero() {
		return nil // nothing changed (a touch, an editor's temp file)
	}
	if r.notify != nil {
		if err := r.notify.d.Reconfigure(snap.routing, snap.targets); err != nil {
			return r.reloadRejected(ctx, "rules reload rejected by the notifier; the previous rules keep running", old, err)
		}
	}
	r.snap.Store(snap)
	resolved := 0
	for _, l := range r.lanes() {
		resolved += l.Swap(ctx, r.setFor(l.Name()))
	}
	if r.part != nil {
		r.part.reloaded(ctx)
	}
	// The gauge first: whoever sees the count or the resolve sees it.
	r.m.reloadOK.Set(1)
	r.m.reloads.WithLabelValues("success").Inc()
	if !r.reloadFailed.IsZero() {
		r.alerts.Send(ctx, []*alert.Alert{r.reloadAlert(alert.Resolved, nil)}, nil)
		r.reloadFailed = time.Time{}
	}
	r.m.rulesLoaded.Set(float64(len(snap.set.Rules)))
	r.log.Info("rules reloaded", "dir", r.opts.RulesDir, "rules", len(snap.set.Rules), "version", snap.set.Version,
		"routing", snap.routing.File, "receivers", len(snap.targets), "resolved_by_reload", resolved)
	return nil
}

// reloadRejected reports a reload that did not take: the gauge, the
// count, the log and the reload alert, which fires until a reload takes.
func (r *Router) reloadRejected(ctx context.Context, msg string, old *snapshot, err error) error {
	r.m.reloadOK.Set(0)
	r.m.reloads.WithLabelValues("failure").Inc()
	r.log.Error(msg, "dir", r.opts.RulesDir, "version", old.set.Version, "err", err)
	if r.reloadFailed.IsZero() {
		r.reloadFailed = time.Now().UTC()
	}
	r.alerts.Send(ctx, []*alert.Alert{r.reloadAlert(alert.Firing, err)}, nil)
	return err
}

// setFor is the rule set a lane runs now: all of it on the single
// consumer, the partitions' or the fleet lane's share when partitioned.
func (r *Router) setFor(lane string) *rule.Set {
	s := r.snap.Load()
	switch {
	case r.opts.Partitions == 0:
		return s.set
	case lane == fleetLane:
		return s.fleet
	}
	return s.part
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
		RulesVersion: r.snap.Load().set.Version, CreatedAt: now,
	}
	if state == alert.Firing {
		a.Summary = fmt.Sprintf("rules in %s do not load; still running version %s", r.opts.RulesDir, r.snap.Load().set.Version)
		a.Details = err.Error()
	} else {
		a.Summary = fmt.Sprintf("rules in %s load again", r.opts.RulesDir)
		a.EndsAt = now
	}
	return a
}

// idleClock advances the live timeline when events do not: with a whole
// cluster silent, absence must still be judged. Each lane runs it only
// while caught up, and none while the router is disconnected, so a backlog
// being consumed (or an outage of NATS itself) never looks like every node
// going silent.
func (r *Router) idleClock() {
	defer r.wg.Done()
	t := time.NewTicker(r.opts.Timeouts.IdleTick)
	defer t.Stop()
	for {
		select {
		case <-r.runCtx.Done():
			return
		case now := <-t.C:
			if !r.conn.NC.IsConnected() {
				continue
			}
			for _, l := range r.lanes() {
				l.Tick(r.runCtx, now.Add(-max(r.opts.Timeouts.IdleLag, 0)))
			}
		}
	}
}

// Package correlate evaluates compiled rules over events in event time and
// produces alerts: single-event rules, state rules, sliding windows with
// sequences and thresholds, and absence (see docs/rules.md for semantics).
//
// The engine is single-threaded by design: events are processed in stream
// order under one lock, which is what makes a replay of the same stream
// produce the same alerts (restart rebuild, drills, `rules test`).
package correlate

import (
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
	"github.com/aftershock/aftershock/internal/ruleplan"
)

// Options tune the engine; zero values take the defaults below.
type Options struct {
	// Now is the wall clock, used only for alerts' CreatedAt.
	Now func() time.Time
	// DrillRunGap starts a new drill run (a fresh timeline) for a cluster when
	// its drill events stop arriving for this long, so replaying the same
	// recording again is judged afresh.
	DrillRunGap time.Duration
	// MaxFuture bounds how far ahead of its arrival a live event may move
	// the watermark: one node with a clock an hour fast must not make every
	// other node's events late.
	MaxFuture time.Duration
}

// Defaults of Options.
const (
	DefaultDrillRunGap = 2 * time.Minute
	DefaultMaxFuture   = time.Minute
	// maxDerivedDepth bounds rules built on rules (aftershock.alert events).
	maxDerivedDepth = 3
)

// Meta is how an event reached the engine.
type Meta struct {
	// Drill selects the drill timelines (subject drill.events.>).
	Drill bool
	// Arrival is when the event was stored (JetStream timestamp); zero when
	// unknown (rules tests).
	Arrival time.Time
	// Replay marks events read back to rebuild state after a restart: state
	// changes as usual but no alerts are returned (they were published
	// before the restart).
	Replay bool
}

// Engine evaluates the current rule set over live and drill timelines.
type Engine struct {
	mu   sync.Mutex
	set  *rule.Set
	idx  *index
	plan *ruleplan.Plan
	pe   *ruleplan.Eval
	opts Options
	log  *slog.Logger

	live   *timeline
	drills map[string]*timeline // by cluster

	types  interner
	nodes  interner
	stats  map[string]*RuleStats // by rule name, across reloads
	totals Totals

	act    rule.Activation
	out    []*alert.Alert
	replay bool
	// cur is the event being offered and curEntry its window record
	// (without time), computed once for all its rules.
	cur      *rule.EventView
	curEntry entry
	keyEv    *rule.EventView
	keys     []groupKeyCache
	// typeLists caches resolved type lists of window functions.
	typeLists map[typeListKey][]uint32
}

// New returns an engine running set.
func New(set *rule.Set, log *slog.Logger, opts Options) *Engine {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.DrillRunGap <= 0 {
		opts.DrillRunGap = DefaultDrillRunGap
	}
	if opts.MaxFuture <= 0 {
		opts.MaxFuture = DefaultMaxFuture
	}
	e := &Engine{opts: opts, log: log, drills: map[string]*timeline{}, stats: map[string]*RuleStats{}, typeLists: map[typeListKey][]uint32{}}
	e.types.init()
	e.nodes.init()
	e.install(set)
	e.live = e.newTimeline("live", false, "")
	return e
}

// Set returns the rule set in use.
func (e *Engine) Set() *rule.Set {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.set
}

func (e *Engine) install(set *rule.Set) {
	e.set = set
	e.plan = ruleplan.New(set)
	e.pe = e.plan.NewEval()
	e.idx = newIndex(set, e.plan)
	e.act.Tables = set.TablesVal
	for _, c := range set.Rules {
		if e.stats[c.Name] == nil {
			e.stats[c.Name] = &RuleStats{}
		}
	}
}

// Process evaluates one event and returns the alerts it raised or resolved
// (nil for most events). An event no rule's index accepts costs a map
// lookup and a watermark update, and allocates nothing.
func (e *Engine) Process(ev *event.Event, m Meta) []*alert.Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = nil
	e.replay = m.Replay
	e.totals.Events++
	tl := e.timelineFor(ev, m)
	clock := eventClock(ev, m, tl.drill, e.opts.MaxFuture)
	tl.advance(clock)
	// What came due while the clock moved up to this event happened before
	// it: a window that closed in a gap (a drill jumping days, a quiet
	// cluster) resolves at its own end, not at this event's time.
	e.runTimersBefore(tl, clock)
	rules := e.idx.rulesFor(ev.Type)
	if len(rules) > 0 || e.idx.latest[ev.Type] {
		e.dispatch(tl, rule.NewView(ev, m.Drill), rules, 0)
	}
	e.runTimers(tl)
	return e.out
}

// Advance moves the live timeline's clock to now when nothing else does:
// with a whole cluster silent (or the router idle) no event advances the
// watermark, yet heartbeats' absence must still be judged. The router calls
// it on a ticker, and only when it is connected and caught up.
func (e *Engine) Advance(now time.Time) []*alert.Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = nil
	e.replay = false
	e.live.advance(now.UnixNano())
	e.runTimers(e.live)
	return e.out
}

// eventClock is what an event contributes to its timeline's clock.
func eventClock(ev *event.Event, m Meta, drill bool, maxFuture time.Duration) int64 {
	t := ev.Time.UnixNano()
	if !drill && !m.Arrival.IsZero() {
		if lim := m.Arrival.UnixNano() + int64(maxFuture); t > lim {
			t = lim
		}
	}
	return t
}

func (e *Engine) timelineFor(ev *event.Event, m Meta) *timeline {
	if !m.Drill {
		return e.live
	}
	tl := e.drills[ev.Cluster]
	arr := m.Arrival.UnixNano()
	if tl != nil && !m.Arrival.IsZero() && tl.lastArrival != 0 && arr-tl.lastArrival > int64(e.opts.DrillRunGap) {
		e.log.Info("new drill run", "cluster", ev.Cluster, "previous_run", tl.run, "run", ev.ID)
		tl = nil
	}
	if tl == nil {
		tl = e.newTimeline("drill/"+ev.Cluster, true, ev.ID)
		e.drills[ev.Cluster] = tl
	}
	if !m.Arrival.IsZero() {
		tl.lastArrival = arr
	}
	return tl
}

// dispatch offers an event to the rules that may match it. The caller
// passes the type index's answer (and calls only when it is not empty or
// the type is remembered for latest[...]); the plan narrows it down by the
// event's attributes, and offer asks the plan for each rule's verdict.
func (e *Engine) dispatch(tl *timeline, v *rule.EventView, _ []int, depth int) {
	if e.idx.latest[v.Ev.Type] {
		tl.remember(v)
	}
	run := e.pe.Begin(depth, v)
	for _, i := range run.Candidates() {
		rs := tl.rules[i]
		if v.Ev.Type == rule.TypeAlert && derivedFrom(v) == rs.c.Name {
			continue // a rule never builds on its own alerts
		}
		e.offer(tl, rs, v, depth)
	}
}

// match is rule c's verdict on v, the event being dispatched at depth: the
// plan's, which is the verdict of c.Match.
func (e *Engine) match(c *rule.Compiled, v *rule.EventView, depth int) (bool, error) {
	if run := e.pe.Run(depth); run.View() == v {
		if i := e.plan.Index(c); i >= 0 {
			return run.Match(i)
		}
	}
	return e.evalBool(c.Match, v)
}

// derivedFrom is the rule an aftershock.alert event came from.
func derivedFrom(v *rule.EventView) string {
	if d, err := v.Data(); err == nil {
		if s, ok := d["rule"].(string); ok {
			return s
		}
	}
	return ""
}

// index answers which rules' type sets accept an event type (the plan
// holds the answer per type) and which types latest[...] remembers.
type index struct {
	plan   *ruleplan.Plan
	latest map[string]bool
}

func newIndex(set *rule.Set, plan *ruleplan.Plan) *index {
	x := &index{plan: plan, latest: map[string]bool{}}
	for _, c := range set.Rules {
		for _, t := range c.LatestTypes {
			x.latest[t] = true
		}
	}
	return x
}

// rulesFor returns the indexes of the rules whose match may accept typ, in
// rule order. The answer per type is computed once.
func (x *index) rulesFor(typ string) []int { return x.plan.ForType(typ).Rules() }

// interner maps strings to small ids so window records stay compact.
type interner struct {
	ids   map[string]uint32
	names []string
}

func (n *interner) init() { n.ids = map[string]uint32{} }

func (n *interner) id(s string) uint32 {
	if id, ok := n.ids[s]; ok {
		return id
	}
	s = strings.Clone(s)
	id := uint32(len(n.names))
	n.ids[s] = id
	n.names = append(n.names, s)
	return id
}

// Swap installs a new rule set without pausing evaluation for longer than
// the swap itself: the state of every rule whose StateKey is unchanged
// carries over (windows, firing alerts, timers); rules removed or changed
// start afresh, and their firing alerts are resolved, as the returned
// alerts, so no notification stays open forever.
func (e *Engine) Swap(set *rule.Set) []*alert.Alert {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.out = nil
	e.replay = false
	old := e.set
	e.install(set)
	byName := map[string]int{}
	for i, c := range set.Rules {
		byName[c.Name] = i
	}
	for _, tl := range e.timelines() {
		next := make([]*ruleState, len(set.Rules))
		for i, rs := range tl.rules {
			j, ok := byName[old.Rules[i].Name]
			if ok && set.Rules[j].StateKey == rs.c.StateKey {
				rs.c = set.Rules[j]
				next[j] = rs
				continue
			}
			rs.dead = true
			for _, g := range rs.groups {
				if g.firing {
					e.closeForReload(tl, rs, g)
				}
			}
		}
		for j, c := range set.Rules {
			if next[j] == nil {
				next[j] = newRuleState(c)
			}
		}
		tl.rules = next
	}
	return e.out
}

// closeForReload resolves a firing group of a rule that a reload removed or
// changed, at its timeline's clock.
func (e *Engine) closeForReload(tl *timeline, rs *ruleState, g *group) {
	g.firing = false
	g.deleted = true
	fpKey := g.key
	if tl.drill {
		fpKey += "\x00drill:" + tl.run
	}
	fp := alert.Fingerprint(rs.c.Name, fpKey)
	start := time.Unix(0, g.startsAt).UTC()
	end := time.Unix(0, max(tl.high, g.startsAt)).UTC()
	labels := e.labels(rs.c, g, g.last)
	e.out = append(e.out, &alert.Alert{
		ID: alert.MakeID(fp, start, alert.Resolved), Fingerprint: fp, Rule: rs.c.Name, Severity: rs.c.Severity,
		State: alert.Resolved, Labels: labels, GroupKey: g.key, Receivers: rs.c.Receivers,
		Summary:     fmt.Sprintf("%s: resolved because the rule was removed or changed by a rules reload", rs.c.Name),
		Annotations: map[string]string{"resolved_reason": "rule removed or changed by a rules reload"},
		WindowStart: start, WindowEnd: end, StartsAt: start, EndsAt: end, Drill: tl.drill,
		RulesVersion: e.set.Version, CreatedAt: e.opts.Now().UTC(),
	})
}

func (e *Engine) timelines() []*timeline {
	out := []*timeline{e.live}
	for _, tl := range e.drills {
		out = append(out, tl)
	}
	return out
}

package router

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/lane"
	"github.com/aftershock/aftershock/internal/rule"
)

// Lanes besides the partitions: the fleet lane evaluates the rules that
// group across clusters, the drills lane every drill (and dead-letters
// malformed subjects, which are not partitioned).
const (
	fleetLane  = "fleet"
	drillsLane = "drills"
)

// partitioner runs a partitioned router (Options.Partitions > 0): it keeps
// this router's heartbeat key in ROUTERS, divides the lanes among the
// routers whose keys are there, and acquires and releases lanes to match.
// Every router computes the same division from the same keys; while views
// differ (a key just expired, a router just started), the lanes' pinned
// consumers still deliver each lane to one router only. See docs/deploy.md.
type partitioner struct {
	r     *Router
	log   *slog.Logger
	kv    jetstream.KeyValue
	lanes []*lane.Lane // partitions in order, then the drills and fleet lanes

	lastBeat atomic.Pointer[time.Time]

	// fixed are the lanes' consumer filters, nil for the fleet lane's,
	// which follow its rules.
	fixed    [][]string
	owned    prometheus.Gauge
	rebuilds *prometheus.CounterVec
	events   *prometheus.CounterVec
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	// kick asks the assignment loop for a round now (after a reload).
	kick chan struct{}
}

// splitRules divides a rule set between the partitions and the fleet lane.
// A rule runs on the partitions when each of its groups lies within one
// cluster (event.cluster is one of its group_by) or it keeps no state (an
// event rule); otherwise it correlates across clusters and runs on the fleet
// lane, which sees every event of the classes it matches. A cross-cluster
// rule on alerts cannot work: per-cluster rules raise their alerts on the
// partitions' routers.
func splitRules(set *rule.Set) (part, fleet *rule.Set, err error) {
	p, f := *set, *set
	p.Rules, f.Rules = nil, nil
	var errs []error
	for _, c := range set.Rules {
		if perCluster(c) {
			p.Rules = append(p.Rules, c)
			continue
		}
		if c.Types.All || slices.Contains(c.Types.Types, rule.TypeAlert) {
			errs = append(errs, fmt.Errorf("rule %s: groups across clusters and matches %s events, which partitioned routers raise on other routers; group it by event.cluster or run without --partitions", c.Name, rule.TypeAlert))
			continue
		}
		f.Rules = append(f.Rules, c)
	}
	return &p, &f, errors.Join(errs...)
}

func perCluster(c *rule.Compiled) bool {
	if c.Kind == rule.KindEvent {
		return true
	}
	for _, g := range c.GroupBy {
		if g.Field == "cluster" {
			return true
		}
	}
	return false
}

// fleetFilters are the EVENTS subjects the fleet lane consumes: the classes
// its rules match, live and drill; nil with no fleet rules.
func fleetFilters(fleet *rule.Set) []string {
	classes := map[event.Class]bool{}
	all := false
	for _, c := range fleet.Rules {
		if len(c.Types.Prefixes) > 0 {
			all = true
		}
		for _, t := range append(slices.Clone(c.Types.Types), c.LatestTypes...) {
			classes[event.ClassOf(t)] = true
		}
	}
	if len(fleet.Rules) == 0 {
		return nil
	}
	if all {
		return []string{} // everything EVENTS holds: no filter is the cheapest
	}
	var out []string
	for _, cl := range slices.Sorted(maps.Keys(classes)) {
		out = append(out, event.LivePrefix+".*.*."+string(cl), event.DrillPrefix+".*.*."+string(cl))
	}
	return out
}

// newPartitioner sets up the partitioned mode: metrics, readiness and a
// first heartbeat (which fails the start: without it this router would
// run, and look ready, with no partition ever given to it). run builds the
// lanes and starts it; it is built before the ops server serves, which
// reads it.
func (r *Router) newPartitioner(ctx context.Context) (*partitioner, error) {
	kv, err := r.conn.JS.KeyValue(ctx, bus.BucketRouters)
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", bus.BucketRouters, err)
	}
	p := &partitioner{r: r, log: r.log.With("component", "partitions", "router_id", r.opts.RouterID), kv: kv, kick: make(chan struct{}, 1)}
	p.owned = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "aftershock_router_lanes_owned",
		Help: "Partitions (and the fleet lane) this router evaluates now.",
	})
	p.rebuilds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aftershock_router_lane_rebuilds_total",
		Help: "Window rebuilds of lanes, by reason: acquire (taking a lane over), gap (deliveries went to another router meanwhile).",
	}, []string{"reason"})
	p.events = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aftershock_router_lane_events_total",
		Help: "Events this router evaluated (or dead-lettered), by lane: which router correlated which partition.",
	}, []string{"lane"})
	r.ops.Registry.MustRegister(p.owned, p.rebuilds, p.events)
	if err := p.beat(ctx); err != nil {
		return nil, fmt.Errorf("router heartbeat in %s: %w", bus.BucketRouters, err)
	}
	r.ops.AddReadiness("partitions", func(context.Context) error {
		if last := p.lastBeat.Load(); last == nil || time.Since(*last) > r.opts.MemberTTL {
			return errors.New("no heartbeat within --member-ttl: the other routers take this one's partitions")
		}
		return nil
	})
	return p, nil
}

// run builds the lanes, makes their consumers (before the router says it
// is ready: see lane.Prepare) and starts the heartbeat and the lane
// assignment.
func (p *partitioner) run(ctx context.Context) error {
	r := p.r
	for i := range r.opts.Partitions {
		p.addLane("p"+strconv.Itoa(i), lane.Source{
			Stream: bus.StreamPartitioned, Sourced: true,
			Patterns: []string{fmt.Sprintf("%s.%d.%s.*.%%s", bus.PartitionToken, i, event.LivePrefix)},
		}, []string{bus.PartitionSubjects(i)})
	}
	p.addLane(drillsLane, lane.Source{
		Stream: bus.StreamPartitioned, Sourced: true, Patterns: []string{event.DrillPrefix + ".*.*.%s"},
	}, []string{event.DrillPrefix + ".>", event.LivePrefix + ".>"})
	fleet := lane.Events()
	fleet.Sparse = true
	p.addLane(fleetLane, fleet, nil)
	// At once: a new consumer's start waits (up to Timeouts.PartitionStart)
	// for the partitioned stream to catch up with EVENTS, the same wait
	// for every lane.
	fleetF := fleetFilters(r.setFor(fleetLane))
	var wg sync.WaitGroup
	errs := make([]error, len(p.lanes))
	for i, l := range p.lanes {
		f := p.fixed[i]
		if l.Name() == fleetLane {
			if fleetF == nil {
				continue // no fleet rules: nobody takes the lane
			}
			f = fleetF
		}
		wg.Go(func() {
			if err := l.Prepare(ctx, f); err != nil {
				errs[i] = fmt.Errorf("lane %s: %w", l.Name(), err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	loop, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.wg.Add(2)
	go p.heartbeat(loop)
	go p.assignLoop(loop)
	r.stops = append(r.stops, p.stop)
	p.log.Info("partitioned routing", "partitions", r.opts.Partitions, "fleet_rules", len(r.snap.Load().fleet.Rules))
	return nil
}

func (p *partitioner) addLane(name string, src lane.Source, filters []string) {
	r := p.r
	l := lane.New(r.laneConfig(name, r.opts.Consumer+"-"+name, src, true, func() *rule.Set { return r.setFor(name) }))
	p.lanes = append(p.lanes, l)
	p.fixed = append(p.fixed, filters)
}

// heartbeat refreshes this router's key until ctx ends. It runs apart from
// assignment, which may spend a while rebuilding windows: a router busy
// taking lanes over must not look dead.
func (p *partitioner) heartbeat(ctx context.Context) {
	defer p.wg.Done()
	beat := p.r.opts.MemberTTL / 3
	for {
		if err := p.beat(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("router heartbeat failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(beat):
		}
	}
}

// beat puts this router's key once.
func (p *partitioner) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, p.r.opts.MemberTTL/3)
	defer cancel()
	now := time.Now()
	if _, err := p.kv.Put(ctx, p.r.opts.RouterID, []byte(now.UTC().Format(time.RFC3339))); err != nil {
		return err
	}
	p.lastBeat.Store(&now)
	return nil
}

// assignLoop divides the lanes among the live routers every heartbeat
// interval and acquires and releases this router's share.
func (p *partitioner) assignLoop(ctx context.Context) {
	defer p.wg.Done()
	beat := p.r.opts.MemberTTL / 3
	for {
		if err := p.assignOnce(ctx); err != nil && ctx.Err() == nil {
			p.log.Warn("lane assignment", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(beat):
		case <-p.kick:
		}
	}
}

// reloaded follows a reload that took. The fleet lane's consumer reads
// what its new fleet rules need before the reload returns, as run makes
// every lane's before a start is ready: left to the router that next takes
// the lane (up to a heartbeat later), a new consumer would start after
// what the stream held by then, and a widened one would not go back, so
// the events in between would never be paged on
// (TestFleetRulesAddedByReload). Then the lanes are re-assigned at once
// rather than at the next heartbeat.
func (p *partitioner) reloaded(ctx context.Context) {
	if f := fleetFilters(p.r.setFor(fleetLane)); f != nil {
		ctx, cancel := context.WithTimeout(ctx, p.r.opts.Timeouts.PartitionStart)
		defer cancel()
		for _, l := range p.lanes {
			if l.Name() == fleetLane {
				if err := l.Cover(ctx, f); err != nil {
					p.log.Warn("fleet lane consumer not made or widened; it will be when a router takes the lane", "err", err)
				}
			}
		}
	}
	select {
	case p.kick <- struct{}{}:
	default: // a round is due already
	}
}

func (p *partitioner) assignOnce(ctx context.Context) error {
	members, err := p.members(ctx)
	if err != nil {
		return err // keep what we have: NATS decides by the pins meanwhile
	}
	filters := fleetFilters(p.r.setFor(fleetLane))
	var names []string
	for _, l := range p.lanes {
		if l.Name() != fleetLane || filters != nil {
			names = append(names, l.Name())
		}
	}
	owner := assignLanes(names, members)
	var errs []error
	// Release first, so the next owner is not kept waiting on a pin.
	for _, l := range p.lanes {
		mine := owner[l.Name()] == p.r.opts.RouterID
		stale := l.Name() == fleetLane && !slices.Equal(l.Filters(), filters)
		if l.Owned() && (!mine || stale) {
			l.Release()
		}
	}
	for i, l := range p.lanes {
		if owner[l.Name()] != p.r.opts.RouterID || l.Owned() || ctx.Err() != nil {
			continue
		}
		lf := p.fixed[i]
		if l.Name() == fleetLane {
			lf = filters
		}
		if err := l.Acquire(ctx, lf); err != nil {
			errs = append(errs, fmt.Errorf("acquire %s: %w", l.Name(), err))
		}
	}
	n := 0
	for _, l := range p.lanes {
		if l.Owned() {
			n++
		}
	}
	p.owned.Set(float64(n))
	return errors.Join(errs...)
}

// members lists the routers whose heartbeat keys are live, as
// bus.ReadKV reads the bucket: nats.go's key listing came back short, even
// empty, while heartbeats were rewritten during it
// (TestMembersWhileHeartbeating), and a router that missed the others, or
// itself, moved lanes away and back.
func (p *partitioner) members(ctx context.Context) ([]string, error) {
	lctx, cancel := context.WithTimeout(ctx, p.r.opts.Timeouts.NATSCall)
	defer cancel()
	keys, err := bus.ReadKV(lctx, p.r.conn.JS, p.kv.Bucket())
	if err != nil {
		return nil, fmt.Errorf("list routers: %w", err)
	}
	var out []string
	for k := range keys {
		if !strings.HasPrefix(k, leasePrefix) { // leases share the bucket; Validate keeps router ids out of this prefix
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out, nil
}

// assignLanes gives every lane an owner among members: each lane goes to
// the member ranking it highest (rendezvous hashing, so a member joining
// or leaving moves few lanes), unless that member already has its fair
// share (so the load stays even). It is deterministic: every router
// computes the same answer from the same members.
func assignLanes(lanes, members []string) map[string]string {
	out := map[string]string{}
	if len(members) == 0 {
		return out
	}
	fair := (len(lanes) + len(members) - 1) / len(members)
	load := map[string]int{}
	for _, l := range lanes {
		ranked := slices.Clone(members)
		slices.SortFunc(ranked, func(a, b string) int {
			sa, sb := score(l, a), score(l, b)
			switch {
			case sa > sb:
				return -1
			case sa < sb:
				return 1
			}
			return 0
		})
		for _, m := range ranked {
			if load[m] < fair {
				out[l] = m
				load[m]++
				break
			}
		}
	}
	return out
}

func score(lane, member string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(lane))
	h.Write([]byte{0})
	h.Write([]byte(member))
	return h.Sum64()
}

// stop releases every lane (the next owners take over at once, instead of
// after the pins' TTL) and removes this router's key.
func (p *partitioner) stop() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
	// The key goes first: the other routers start pulling these lanes
	// while they drain here, and get them as soon as each is unpinned.
	ctx, cancel := context.WithTimeout(context.Background(), p.r.opts.Timeouts.NATSCall)
	defer cancel()
	if err := p.kv.Delete(ctx, p.r.opts.RouterID); err != nil {
		p.log.Debug("remove router key", "err", err)
	}
	for _, l := range p.lanes {
		l.Release()
	}
	p.owned.Set(0)
}

// Lanes lists the lanes this router evaluates now (p0.., fleet); nil
// without --partitions.
func (r *Router) Lanes() []string {
	if r.part == nil {
		return nil
	}
	var out []string
	for _, l := range r.part.lanes {
		if l.Owned() {
			out = append(out, l.Name())
		}
	}
	return out
}

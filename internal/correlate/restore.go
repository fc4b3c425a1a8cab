package correlate

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/aftershock/aftershock/internal/rule"
)

// Restore builds an engine running set from a snapshot. Each rule of set
// takes the state the snapshot holds under its name, provided what its
// state depends on is unchanged (rule.Compiled.StateKey, as a reload
// keeps it); a rule without such state makes it fail with
// ErrSnapshotRules, since only a replay can build its windows. Rules the
// snapshot has and set does not are left out. A snapshot whose contents do
// not hold together fails with ErrSnapshotFormat: it is never half used.
func Restore(set *rule.Set, log *slog.Logger, opts Options, s *Snapshot) (*Engine, error) {
	st := &s.st
	ruleOf := make([]int, len(st.Rules)) // snapshot rule -> set rule, -1: dropped
	byName := map[string]int{}
	for i, r := range st.Rules {
		byName[r.Name] = i
		ruleOf[i] = -1
	}
	var missing []string
	for j, c := range set.Rules {
		i, ok := byName[c.Name]
		if !ok || st.Rules[i].StateKey != c.StateKey {
			missing = append(missing, c.Name)
			continue
		}
		ruleOf[i] = j
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s", ErrSnapshotRules, strings.Join(missing, ", "))
	}
	if len(st.Timelines) == 0 || st.Timelines[0].Drill {
		return nil, fmt.Errorf("%w: no live timeline", ErrSnapshotFormat)
	}
	e := New(set, log, opts)
	for _, in := range []struct {
		n     *interner
		names []string
	}{{&e.types, st.Types}, {&e.nodes, st.Nodes}} {
		for i, name := range in.names {
			if in.n.id(name); len(in.n.names) != i+1 {
				return nil, fmt.Errorf("%w: name %q twice", ErrSnapshotFormat, name)
			}
		}
	}
	r := restorer{e: e, st: st, ruleOf: ruleOf, views: make([]*rule.EventView, len(st.Views))}
	for i := range st.Views {
		ev := st.Views[i].Ev
		r.views[i] = rule.NewView(&ev, st.Views[i].Drill)
	}
	for i := range st.Timelines {
		tl, err := r.timeline(&st.Timelines[i])
		if err != nil {
			return nil, fmt.Errorf("%w: timeline %s: %w", ErrSnapshotFormat, st.Timelines[i].Name, err)
		}
		if i == 0 {
			e.live = tl
		} else {
			e.drills[st.Timelines[i].Cluster] = tl
		}
	}
	return e, nil
}

type restorer struct {
	e      *Engine
	st     *snapState
	ruleOf []int
	views  []*rule.EventView
}

func (r *restorer) view(i int) (*rule.EventView, error) {
	if i == -1 {
		return nil, nil
	}
	if i < 0 || i >= len(r.views) {
		return nil, fmt.Errorf("event %d of %d", i, len(r.views))
	}
	return r.views[i], nil
}

func (r *restorer) timeline(s *snapTimeline) (*timeline, error) {
	tl := r.e.newTimeline(s.Name, s.Drill, s.Run)
	tl.high, tl.lastArrival = s.High, s.LastArrival
	for _, l := range s.Latest {
		v, err := r.view(l.View)
		if err != nil || v == nil {
			return nil, fmt.Errorf("latest %s of %s: %w", l.Type, l.Node, err)
		}
		if tl.latest[l.Type] == nil {
			tl.latest[l.Type] = map[string]*rule.EventView{}
		}
		tl.latest[l.Type][l.Node] = v
	}
	if len(s.Rules) != len(r.st.Rules) {
		return nil, fmt.Errorf("%d rules' groups for %d rules", len(s.Rules), len(r.st.Rules))
	}
	for i, groups := range s.Rules {
		j := r.ruleOf[i]
		if j < 0 {
			continue
		}
		rs := tl.rules[j]
		for k := range groups {
			g, err := r.group(&groups[k])
			if err != nil {
				return nil, fmt.Errorf("rule %s group %q: %w", rs.c.Name, groups[k].Key, err)
			}
			rs.groups[g.key] = g
		}
	}
	// Stale timers keep their place in the heap, pointing at a group
	// nothing else knows.
	stale := &ruleState{dead: true}
	gone := &group{deleted: true}
	tl.timers = make(timerHeap, len(s.Timers))
	for k, t := range s.Timers {
		tm := timer{due: t.Due, rs: stale, g: gone}
		if t.Rule >= len(r.ruleOf) {
			return nil, fmt.Errorf("timer of rule %d", t.Rule)
		}
		if t.Rule >= 0 && r.ruleOf[t.Rule] >= 0 {
			rs := tl.rules[r.ruleOf[t.Rule]]
			if g := rs.groups[t.Key]; g != nil {
				tm.rs, tm.g = rs, g
			} else {
				return nil, fmt.Errorf("timer of rule %s names no group %q", rs.c.Name, t.Key)
			}
		}
		tl.timers[k] = tm
	}
	return tl, nil
}

func (r *restorer) group(s *snapGroup) (*group, error) {
	n := len(s.At)
	if len(s.Occ) != n || len(s.Typ) != n || len(s.Node) != n || len(s.ID) != n {
		return nil, fmt.Errorf("record columns of unequal length")
	}
	g := &group{
		key: s.Key, labels: unpairs(s.Labels), wide: s.Wide, newest: s.Newest, lastAt: s.LastAt,
		firing: s.Firing, startsAt: s.StartsAt, updates: s.Updates, lastUpdate: s.LastUpdate,
		lastMark:  mark{events: s.LastMark[0], nodes: s.LastMark[1], types: s.LastMark[2]},
		updateDue: s.UpdateDue, overflow: s.Overflow, due: s.Due, scheduled: s.Scheduled,
	}
	if s.HasSig {
		g.sig = unpairs(s.Sig)
	}
	var err error
	if g.last, err = r.view(s.Last); err != nil {
		return nil, err
	}
	if g.text, err = decodeText(s.Text); err != nil {
		return nil, err
	}
	for _, tc := range s.ByType {
		if int(tc.Typ) >= len(r.e.types.names) {
			return nil, fmt.Errorf("type %d of %d", tc.Typ, len(r.e.types.names))
		}
		g.byType = append(g.byType, typeCount{typ: tc.Typ, events: tc.Events, occ: tc.Occ, nodes: tc.NodeCnt})
	}
	for _, x := range s.Sample {
		v, err := r.view(x.View)
		if err != nil || v == nil {
			return nil, fmt.Errorf("evidence: %w", err)
		}
		g.sample = append(g.sample, sampled{at: x.At, typ: x.Typ, v: v})
	}
	if n == 0 {
		return g, nil
	}
	g.entries = make([]entry, n)
	g.nodes, g.pairs, g.masks = map[uint32]nodeInfo{}, map[uint64]int32{}, map[uint64]int32{}
	ti := make(map[uint32]int, len(g.byType))
	for i, tc := range g.byType {
		ti[tc.typ] = i
	}
	for i := range n {
		en := entry{at: s.At[i], typ: s.Typ[i], node: s.Node[i], occ: s.Occ[i], id: s.ID[i]}
		if _, ok := ti[en.typ]; !ok {
			return nil, fmt.Errorf("record of type %d not counted", en.typ)
		}
		if int(en.node) >= len(r.e.nodes.names) {
			return nil, fmt.Errorf("node %d of %d", en.node, len(r.e.nodes.names))
		}
		if i > 0 && en.at < g.entries[i-1].at {
			return nil, fmt.Errorf("records out of time order")
		}
		g.entries[i] = en
		g.pairs[uint64(en.typ)<<32|uint64(en.node)]++
		ni := g.nodes[en.node]
		ni.events++
		g.nodes[en.node] = ni
	}
	// The counters kept incrementally, recomputed: each node's mask has a
	// bit per type (by index) it has records of; masks counts nodes per
	// mask. A wide group keeps none (more types than bits).
	if !g.wide {
		for pk := range g.pairs {
			node := uint32(pk)
			ni := g.nodes[node]
			ni.mask |= 1 << ti[uint32(pk>>32)]
			g.nodes[node] = ni
		}
		for _, ni := range g.nodes {
			g.masks[ni.mask]++
		}
	}
	return g, nil
}

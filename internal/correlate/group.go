package correlate

import (
	"slices"
	"sort"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/rule"
)

// group is one correlation key's state for one rule on one timeline.
type group struct {
	key    string
	labels map[string]string

	// Window rules: every event still in the window as a compact record,
	// time-ordered, from head on; counters kept in step; a capped sample
	// of full events per type.
	entries []entry
	head    int
	byType  []typeCount
	nodes   map[uint32]int32 // events per node
	pairs   map[uint64]int32 // events per (type, node)
	sample  []sampled        // time-ordered, at most Evidence per type
	newest  int64            // latest record time

	// last is the latest event (state and absence rules: the one judged).
	last   *rule.EventView
	lastAt int64

	// Lifecycle of the current episode.
	firing     bool
	startsAt   int64
	updates    int
	lastUpdate int64
	lastText   string
	// text is the latest firing alert as rendered, for its resolve notice.
	text *alert.Alert

	overflow  int64 // records dropped by max_entries
	due       int64
	scheduled int64
	deleted   bool
}

type entry struct {
	at   int64
	typ  uint32
	node uint32
	occ  int64
	id   uint64 // hash of the event id: a window counts an event once
}

// idHash is FNV-1a of an event id, computed without allocating.
func idHash(id string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(id); i++ {
		h ^= uint64(id[i])
		h *= 1099511628211
	}
	return h
}

// has reports whether the window already holds en's event: same id hash,
// time, type and node. Redeliveries and replays of stored events (a drill
// published twice within the run gap) must not be counted twice.
func (g *group) has(en entry) bool {
	live := g.live()
	i := sort.Search(len(live), func(i int) bool { return live[i].at >= en.at })
	for ; i < len(live) && live[i].at == en.at; i++ {
		if x := live[i]; x.id == en.id && x.typ == en.typ && x.node == en.node {
			return true
		}
	}
	return false
}

type typeCount struct {
	typ    uint32
	events int64
	occ    int64
	nodes  int64 // distinct nodes with this type
}

type sampled struct {
	at  int64
	typ uint32
	v   *rule.EventView
}

func (g *group) live() []entry { return g.entries[g.head:] }

func (g *group) count(typ uint32) *typeCount {
	for i := range g.byType {
		if g.byType[i].typ == typ {
			return &g.byType[i]
		}
	}
	g.byType = append(g.byType, typeCount{typ: typ})
	return &g.byType[len(g.byType)-1]
}

// insert adds a record in time order and keeps the counters in step.
func (g *group) insert(en entry, v *rule.EventView, evidence int) {
	live := g.live()
	i := len(live)
	for i > 0 && live[i-1].at > en.at {
		i--
	}
	if i == len(live) {
		g.entries = append(g.entries, en)
	} else {
		g.entries = slices.Insert(g.entries, g.head+i, en)
	}
	tc := g.count(en.typ)
	tc.events++
	tc.occ += en.occ
	if g.nodes == nil {
		g.nodes = map[uint32]int32{}
		g.pairs = map[uint64]int32{}
	}
	g.nodes[en.node]++
	pk := uint64(en.typ)<<32 | uint64(en.node)
	if g.pairs[pk]++; g.pairs[pk] == 1 {
		tc.nodes++
	}
	g.newest = max(g.newest, en.at)
	g.addSample(sampled{at: en.at, typ: en.typ, v: v}, evidence)
}

// addSample keeps the newest `evidence` events of each type.
func (g *group) addSample(s sampled, evidence int) {
	j := len(g.sample)
	for j > 0 && g.sample[j-1].at > s.at {
		j--
	}
	g.sample = slices.Insert(g.sample, j, s)
	n := 0
	for _, x := range g.sample {
		if x.typ == s.typ {
			n++
		}
	}
	if n > evidence {
		for k, x := range g.sample {
			if x.typ == s.typ {
				g.sample = slices.Delete(g.sample, k, k+1)
				break
			}
		}
	}
}

// evict drops records at or before cutoff (and the oldest beyond
// maxEntries); it returns the time of the newest record dropped by age.
func (g *group) evict(cutoff int64, maxEntries int) (dropped int64, any bool) {
	for g.head < len(g.entries) && (g.entries[g.head].at <= cutoff || len(g.entries)-g.head > maxEntries) {
		en := g.entries[g.head]
		if en.at <= cutoff {
			dropped, any = en.at, true
		} else {
			g.overflow++
		}
		g.remove(en)
		g.head++
	}
	if g.head > 64 && g.head > len(g.entries)/2 { // reclaim the consumed prefix
		n := copy(g.entries, g.entries[g.head:])
		clear(g.entries[n:])
		g.entries = g.entries[:n]
		g.head = 0
	}
	k := 0
	for k < len(g.sample) && g.sample[k].at <= cutoff {
		k++
	}
	if k > 0 {
		g.sample = slices.Delete(g.sample, 0, k)
	}
	return dropped, any
}

func (g *group) remove(en entry) {
	tc := g.count(en.typ)
	tc.events--
	tc.occ -= en.occ
	if g.nodes[en.node]--; g.nodes[en.node] <= 0 {
		delete(g.nodes, en.node)
	}
	pk := uint64(en.typ)<<32 | uint64(en.node)
	if g.pairs[pk]--; g.pairs[pk] <= 0 {
		delete(g.pairs, pk)
		tc.nodes--
	}
}

func (g *group) empty() bool { return g.head >= len(g.entries) }

// oldest is the time of the oldest record.
func (g *group) oldest() int64 { return g.entries[g.head].at }

// sampleViews returns the evidence sample, time-ordered.
func (g *group) sampleViews() []*rule.EventView {
	out := make([]*rule.EventView, len(g.sample))
	for i, s := range g.sample {
		out[i] = s.v
	}
	return out
}

// winView is a group's window as CEL's `window` sees it: whole, or
// restricted to [from, to).
type winView struct {
	g        *group
	e        *Engine
	from, to int64
	whole    bool
}

var _ rule.Window = winView{}

func (w winView) records() []entry {
	live := w.g.live()
	if w.whole {
		return live
	}
	lo := sort.Search(len(live), func(i int) bool { return live[i].at >= w.from })
	hi := sort.Search(len(live), func(i int) bool { return live[i].at >= w.to })
	return live[lo:hi]
}

// typeIDs resolves type names; unknown names match nothing.
func (w winView) typeIDs(types []string) []uint32 {
	ids := make([]uint32, 0, len(types))
	for _, t := range types {
		if id, ok := w.e.types.lookup(t); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

func (w winView) sum(types []string, f func(tc *typeCount) int64, rec func(en entry) int64) int64 {
	var n int64
	if w.whole {
		if len(types) == 0 {
			for i := range w.g.byType {
				n += f(&w.g.byType[i])
			}
			return n
		}
		for _, id := range w.typeIDs(types) {
			for i := range w.g.byType {
				if w.g.byType[i].typ == id {
					n += f(&w.g.byType[i])
				}
			}
		}
		return n
	}
	ids := w.typeIDs(types)
	for _, en := range w.records() {
		if len(types) == 0 || slices.Contains(ids, en.typ) {
			n += rec(en)
		}
	}
	return n
}

// Count implements rule.Window.
func (w winView) Count(types []string) int64 {
	return w.sum(types, func(tc *typeCount) int64 { return tc.occ }, func(en entry) int64 { return en.occ })
}

// Events implements rule.Window.
func (w winView) Events(types []string) int64 {
	return w.sum(types, func(tc *typeCount) int64 { return tc.events }, func(entry) int64 { return 1 })
}

// Nodes implements rule.Window.
func (w winView) Nodes(types []string) int64 {
	if w.whole && len(types) == 0 {
		return int64(len(w.g.nodes))
	}
	if w.whole && len(types) == 1 {
		if id, ok := w.e.types.lookup(types[0]); ok {
			for i := range w.g.byType {
				if w.g.byType[i].typ == id {
					return w.g.byType[i].nodes
				}
			}
		}
		return 0
	}
	return int64(len(w.nodeSet(types)))
}

func (w winView) nodeSet(types []string) map[uint32]bool {
	ids := w.typeIDs(types)
	set := map[uint32]bool{}
	for _, en := range w.records() {
		if len(types) == 0 || slices.Contains(ids, en.typ) {
			set[en.node] = true
		}
	}
	return set
}

// NodeNames implements rule.Window.
func (w winView) NodeNames(types []string) []string {
	set := w.nodeSet(types)
	out := make([]string, 0, len(set))
	for id := range set {
		out = append(out, w.e.nodes.names[id])
	}
	slices.Sort(out)
	if len(out) > rule.MaxNodeNames {
		out = out[:rule.MaxNodeNames]
	}
	return out
}

// After implements rule.Window.
func (w winView) After(t time.Time) rule.Window {
	from := max(w.from, t.UnixNano())
	if w.whole {
		return winView{g: w.g, e: w.e, from: from, to: maxTime}
	}
	return winView{g: w.g, e: w.e, from: from, to: w.to}
}

// Before implements rule.Window.
func (w winView) Before(t time.Time) rule.Window {
	to := t.UnixNano()
	if w.whole {
		return winView{g: w.g, e: w.e, from: minTime, to: to}
	}
	return winView{g: w.g, e: w.e, from: w.from, to: min(w.to, to)}
}

// First implements rule.Window.
func (w winView) First(types []string) (time.Time, bool) {
	ids := w.typeIDs(types)
	for _, en := range w.records() {
		if len(types) == 0 || slices.Contains(ids, en.typ) {
			return time.Unix(0, en.at).UTC(), true
		}
	}
	return time.Time{}, false
}

// Last implements rule.Window.
func (w winView) Last(types []string) (time.Time, bool) {
	ids := w.typeIDs(types)
	rs := w.records()
	for i := len(rs) - 1; i >= 0; i-- {
		if len(types) == 0 || slices.Contains(ids, rs[i].typ) {
			return time.Unix(0, rs[i].at).UTC(), true
		}
	}
	return time.Time{}, false
}

const (
	minTime = -1 << 63
	maxTime = 1<<63 - 1
)

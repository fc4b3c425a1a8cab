package correlate

import (
	"slices"
	"sort"
	"time"
	"unsafe"

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
	nodes   map[uint32]nodeInfo // per node: events, and which types it has
	pairs   map[uint64]int32    // events per (type, node)
	masks   map[uint64]int32    // nodes per type mask, for distinct nodes of a type set
	wide    bool                // more than 64 types: masks not kept
	sample  []sampled           // time-ordered, at most Evidence per type
	newest  int64               // latest record time

	// last is the latest event (state and absence rules: the one judged).
	last   *rule.EventView
	lastAt int64

	// Lifecycle of the current episode.
	firing     bool
	startsAt   int64
	updates    int
	lastUpdate int64
	lastMark   mark
	// sig holds the significant values as last published; updateDue is
	// when a growth update held back by update_every is due (0: none);
	// change is what the update being raised brings.
	sig       map[string]string
	updateDue int64
	change    *alert.Change
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
	if g.empty() || en.at > g.newest {
		return false // the usual case: a new latest event
	}
	live := g.live()
	i := sort.Search(len(live), func(i int) bool { return live[i].at >= en.at })
	for ; i < len(live) && live[i].at == en.at; i++ {
		if x := live[i]; x.id == en.id && x.typ == en.typ && x.node == en.node {
			return true
		}
	}
	return false
}

// nodeInfo is one node's share of a window: its events, and a bit per
// type (index in byType) it has at least one event of.
type nodeInfo struct {
	events int32
	mask   uint64
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
	ti := g.typeIndex(en.typ)
	tc := &g.byType[ti]
	tc.events++
	tc.occ += en.occ
	if g.nodes == nil {
		g.nodes = map[uint32]nodeInfo{}
		g.pairs = map[uint64]int32{}
		g.masks = map[uint64]int32{}
	}
	ni := g.nodes[en.node]
	ni.events++
	pk := uint64(en.typ)<<32 | uint64(en.node)
	if g.pairs[pk]++; g.pairs[pk] == 1 {
		tc.nodes++
		ni.mask = g.remask(ni.mask, ti, true)
	}
	g.nodes[en.node] = ni
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
	ti := g.typeIndex(en.typ)
	tc := &g.byType[ti]
	tc.events--
	tc.occ -= en.occ
	ni := g.nodes[en.node]
	ni.events--
	pk := uint64(en.typ)<<32 | uint64(en.node)
	if g.pairs[pk]--; g.pairs[pk] <= 0 {
		delete(g.pairs, pk)
		tc.nodes--
		ni.mask = g.remask(ni.mask, ti, false)
	}
	if ni.events <= 0 {
		delete(g.nodes, en.node)
	} else {
		g.nodes[en.node] = ni
	}
}

// typeIndex is typ's index in byType, added if new.
func (g *group) typeIndex(typ uint32) int {
	for i := range g.byType {
		if g.byType[i].typ == typ {
			return i
		}
	}
	g.byType = append(g.byType, typeCount{typ: typ})
	if len(g.byType) > 64 {
		g.wide = true
	}
	return len(g.byType) - 1
}

// remask sets or clears type bit ti in a node's mask and keeps the count
// of nodes per mask in step.
func (g *group) remask(mask uint64, ti int, set bool) uint64 {
	if g.wide || ti >= 64 {
		return mask
	}
	next := mask &^ (1 << ti)
	if set {
		next = mask | 1<<ti
	}
	if mask != 0 {
		if g.masks[mask]--; g.masks[mask] <= 0 {
			delete(g.masks, mask)
		}
	}
	if next != 0 {
		g.masks[next]++
	}
	return next
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

func (w winView) bounds() (lo, hi int) {
	live := w.g.live()
	if w.whole {
		return 0, len(live)
	}
	lo = sort.Search(len(live), func(i int) bool { return live[i].at >= w.from })
	hi = sort.Search(len(live), func(i int) bool { return live[i].at >= w.to })
	return lo, max(lo, hi)
}

func (w winView) records() []entry {
	lo, hi := w.bounds()
	return w.g.live()[lo:hi]
}

// typeIDs resolves type names; unknown names match nothing. Conditions
// pass the same literal lists on every event, so the answer is cached by
// the list's identity (a list's contents never change).
func (w winView) typeIDs(types []string) []uint32 {
	if len(types) == 0 {
		return nil
	}
	key := typeListKey{unsafe.SliceData(types), len(types)}
	if ids, ok := w.e.typeLists[key]; ok {
		return ids
	}
	ids := make([]uint32, len(types))
	for i, t := range types {
		ids[i] = w.e.types.id(t)
	}
	if len(w.e.typeLists) > 10_000 { // lists built by CEL at run time
		clear(w.e.typeLists)
	}
	w.e.typeLists[key] = ids
	return ids
}

type typeListKey struct {
	p *string
	n int
}

func matches(types []string, ids []uint32, typ uint32) bool {
	return len(types) == 0 || slices.Contains(ids, typ)
}

// sum totals f over the counters of types (every type if none). A
// restricted window scans its records, or, when fewer records lie outside
// it (after(crash) usually covers most of the window), subtracts those
// from the counters: a condition evaluated on every event stays cheap.
func (w winView) sum(types []string, f func(tc *typeCount) int64, rec func(en entry) int64) int64 {
	ids := w.typeIDs(types)
	var total int64
	for i := range w.g.byType {
		if matches(types, ids, w.g.byType[i].typ) {
			total += f(&w.g.byType[i])
		}
	}
	if w.whole {
		return total
	}
	live := w.g.live()
	lo, hi := w.bounds()
	part := func(rs []entry) int64 {
		var n int64
		for _, en := range rs {
			if matches(types, ids, en.typ) {
				n += rec(en)
			}
		}
		return n
	}
	if hi-lo <= lo+len(live)-hi {
		return part(live[lo:hi])
	}
	return total - part(live[:lo]) - part(live[hi:])
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
	g := w.g
	ids := w.typeIDs(types)
	if len(types) > 0 && len(ids) == 0 {
		return 0
	}
	if g.wide {
		return int64(len(w.nodeSet(types)))
	}
	var mask uint64
	for i := range g.byType {
		if matches(types, ids, g.byType[i].typ) {
			mask |= 1 << i
		}
	}
	var whole int64
	for m, n := range g.masks {
		if m&mask != 0 {
			whole += int64(n)
		}
	}
	if w.whole {
		return whole
	}
	live := g.live()
	lo, hi := w.bounds()
	if hi-lo <= lo+len(live)-hi {
		return int64(len(w.nodeSet(types)))
	}
	// Distinct nodes inside = all of them minus those seen only outside.
	outside := map[uint32]int32{}
	for _, rs := range [][]entry{live[:lo], live[hi:]} {
		for _, en := range rs {
			if matches(types, ids, en.typ) {
				outside[en.node]++
			}
		}
	}
	for node, n := range outside {
		var all int32
		for i := range g.byType {
			if matches(types, ids, g.byType[i].typ) {
				all += g.pairs[uint64(g.byType[i].typ)<<32|uint64(node)]
			}
		}
		if all == n {
			whole--
		}
	}
	return whole
}

func (w winView) nodeSet(types []string) map[uint32]bool {
	ids := w.typeIDs(types)
	set := map[uint32]bool{}
	for _, en := range w.records() {
		if matches(types, ids, en.typ) {
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
	if w.whole && w.Events(types) == 0 {
		return time.Time{}, false // no scan for an anchor that is not there
	}
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
	if w.whole && w.Events(types) == 0 {
		return time.Time{}, false
	}
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

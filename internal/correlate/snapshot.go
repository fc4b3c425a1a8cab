package correlate

import (
	"bufio"
	"encoding/gob"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// A Snapshot is a copy of an engine's whole state: every timeline's
// clock, windows, evidence, latest events, lifecycles and pending timers,
// in the order the engine would use them. An engine restored from it
// (Restore) and fed the events after it raises exactly the alerts, with
// the same ids and text, that the engine it was taken from raises on
// those events: a restart needs the events since the snapshot, not a
// replay of every rule's horizon.
//
// Taking one costs a copy of the window records under the engine's lock
// (events and alert texts are shared, they never change once built);
// encoding happens outside it.
type Snapshot struct {
	st snapState
}

// snapshotMagic starts an encoded snapshot; the number is the format's.
const snapshotMagic = "aftershock-windows/1\n"

// ErrSnapshotFormat means the bytes are not a snapshot this version reads.
var ErrSnapshotFormat = errors.New("not a window-state snapshot of this format")

// ErrSnapshotRules means the snapshot holds no state for some rule of the
// set (new, or changed in what its state depends on): only a replay can
// build that rule's windows.
var ErrSnapshotRules = errors.New("snapshot lacks state for rules of this set")

// snapState is what is encoded (gob: exported fields).
type snapState struct {
	// Version is the rule set's; Rules name each rule's state.
	Version string
	Rules   []snapRule
	// Types and Nodes are the interned names window records refer to.
	Types, Nodes []string
	// Views are the events the state refers to, each once.
	Views     []snapView
	Timelines []snapTimeline // the live one first
}

type snapRule struct{ Name, StateKey string }

type snapView struct {
	Ev    event.Event
	Drill bool
}

type snapTimeline struct {
	Name        string
	Drill       bool
	Cluster     string // drill timelines: the key in Engine.drills
	Run         string
	High        int64
	LastArrival int64
	Latest      []snapLatest
	Rules       [][]snapGroup // parallel to Rules, by key
	// Timers are the heap as it is (stale entries too), so timers due at
	// the same time fire in the same order.
	Timers []snapTimer
}

type snapLatest struct {
	Type, Node string
	View       int
}

// snapTimer refers to a live group by rule index and key; Rule -1 is a
// stale entry (a group forgotten or a rule reloaded away), kept for its
// place in the heap.
type snapTimer struct {
	Due  int64
	Rule int
	Key  string
}

// snapGroup is a group; window records are stored by column.
type snapGroup struct {
	Key    string
	Labels []string // label, value, ... (sorted: deterministic bytes)

	At, Occ    []int64
	Typ, Node  []uint32
	ID         []uint64
	ByType     []typeCountSnap
	Wide       bool
	Sample     []sampleSnap
	Newest     int64
	Last       int // view index, -1: none
	LastAt     int64
	Firing     bool
	StartsAt   int64
	Updates    int
	LastUpdate int64
	LastMark   [3]int64
	Sig        []string // name, value, ... (sorted)
	HasSig     bool     // sig is not nil
	UpdateDue  int64
	Text       []byte // the firing alert as rendered, JSON
	Overflow   int64
	Due        int64
	Scheduled  int64
}

type typeCountSnap struct {
	Typ                  uint32
	Events, Occ, NodeCnt int64
}

type sampleSnap struct {
	At   int64
	Typ  uint32
	View int
}

// Snapshot copies the engine's state.
func (e *Engine) Snapshot() *Snapshot {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := capture{views: map[*rule.EventView]int{}}
	st := &c.st
	st.Version = e.set.Version
	for _, r := range e.set.Rules {
		st.Rules = append(st.Rules, snapRule{r.Name, r.StateKey})
	}
	st.Types = slices.Clone(e.types.names)
	st.Nodes = slices.Clone(e.nodes.names)
	st.Timelines = append(st.Timelines, c.timeline(e.live, ""))
	for _, cl := range slices.Sorted(maps.Keys(e.drills)) {
		st.Timelines = append(st.Timelines, c.timeline(e.drills[cl], cl))
	}
	return &Snapshot{st: c.st}
}

// capture builds a snapState, numbering views as it meets them.
type capture struct {
	st    snapState
	views map[*rule.EventView]int
}

func (c *capture) view(v *rule.EventView) int {
	if v == nil {
		return -1
	}
	if i, ok := c.views[v]; ok {
		return i
	}
	i := len(c.st.Views)
	c.views[v] = i
	c.st.Views = append(c.st.Views, snapView{Ev: *v.Ev, Drill: v.Drill})
	return i
}

func (c *capture) timeline(tl *timeline, cluster string) snapTimeline {
	s := snapTimeline{Name: tl.name, Drill: tl.drill, Cluster: cluster, Run: tl.run, High: tl.high, LastArrival: tl.lastArrival}
	for _, typ := range slices.Sorted(maps.Keys(tl.latest)) {
		byNode := tl.latest[typ]
		for _, node := range slices.Sorted(maps.Keys(byNode)) {
			s.Latest = append(s.Latest, snapLatest{Type: typ, Node: node, View: c.view(byNode[node])})
		}
	}
	index := make(map[*ruleState]int, len(tl.rules))
	for i, rs := range tl.rules {
		index[rs] = i
		groups := make([]snapGroup, 0, len(rs.groups))
		for _, key := range slices.Sorted(maps.Keys(rs.groups)) {
			groups = append(groups, c.group(rs.groups[key]))
		}
		s.Rules = append(s.Rules, groups)
	}
	s.Timers = make([]snapTimer, len(tl.timers))
	for i, t := range tl.timers {
		ri, ok := index[t.rs]
		if !ok || t.rs.dead || t.g.deleted || t.rs.groups[t.g.key] != t.g {
			ri = -1
		}
		s.Timers[i] = snapTimer{Due: t.due, Rule: ri, Key: t.g.key}
	}
	return s
}

func (c *capture) group(g *group) snapGroup {
	live := g.live()
	s := snapGroup{
		Key: g.key, Labels: pairs(g.labels),
		At: make([]int64, len(live)), Occ: make([]int64, len(live)),
		Typ: make([]uint32, len(live)), Node: make([]uint32, len(live)), ID: make([]uint64, len(live)),
		Wide: g.wide, Newest: g.newest, Last: c.view(g.last), LastAt: g.lastAt,
		Firing: g.firing, StartsAt: g.startsAt, Updates: g.updates, LastUpdate: g.lastUpdate,
		LastMark: [3]int64{g.lastMark.events, g.lastMark.nodes, g.lastMark.types},
		Sig:      pairs(g.sig), HasSig: g.sig != nil, UpdateDue: g.updateDue,
		Overflow: g.overflow, Due: g.due, Scheduled: g.scheduled,
	}
	for i, en := range live {
		s.At[i], s.Occ[i], s.Typ[i], s.Node[i], s.ID[i] = en.at, en.occ, en.typ, en.node, en.id
	}
	for _, tc := range g.byType {
		s.ByType = append(s.ByType, typeCountSnap{Typ: tc.typ, Events: tc.events, Occ: tc.occ, NodeCnt: tc.nodes})
	}
	for _, x := range g.sample {
		s.Sample = append(s.Sample, sampleSnap{At: x.at, Typ: x.typ, View: c.view(x.v)})
	}
	if g.text != nil {
		// JSON, as ALERTS holds it: the resolve notice repeats this text,
		// and JSON is what the alert round-trips through anyway.
		s.Text, _ = g.text.Encode()
	}
	return s
}

// pairs flattens a map into sorted key, value, ... .
func pairs(m map[string]string) []string {
	if len(m) == 0 {
		return nil
	}
	out := make([]string, 0, 2*len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, k, m[k])
	}
	return out
}

func unpairs(p []string) map[string]string {
	m := make(map[string]string, len(p)/2)
	for i := 0; i+1 < len(p); i += 2 {
		m[p[i]] = p[i+1]
	}
	return m
}

// Encode writes the snapshot.
func (s *Snapshot) Encode(w io.Writer) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	if _, err := bw.WriteString(snapshotMagic); err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	if err := gob.NewEncoder(bw).Encode(&s.st); err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("encode snapshot: %w", err)
	}
	return nil
}

// DecodeSnapshot reads a snapshot written by Encode.
func DecodeSnapshot(r io.Reader) (*Snapshot, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	magic := make([]byte, len(snapshotMagic))
	if _, err := io.ReadFull(br, magic); err != nil || string(magic) != snapshotMagic {
		return nil, ErrSnapshotFormat
	}
	s := &Snapshot{}
	if err := gob.NewDecoder(br).Decode(&s.st); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSnapshotFormat, err)
	}
	return s, nil
}

// Version is the rule set version the snapshot was taken under.
func (s *Snapshot) Version() string { return s.st.Version }

// Records counts the window records the snapshot holds.
func (s *Snapshot) Records() int {
	n := 0
	for _, tl := range s.st.Timelines {
		for _, gs := range tl.Rules {
			for _, g := range gs {
				n += len(g.At)
			}
		}
	}
	return n
}

// decodeText reads a group's rendered alert.
func decodeText(b []byte) (*alert.Alert, error) {
	if len(b) == 0 {
		return nil, nil
	}
	var a alert.Alert
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, fmt.Errorf("%w: alert text: %w", ErrSnapshotFormat, err)
	}
	return &a, nil
}

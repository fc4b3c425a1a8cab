// Package rollup turns repeats into one aggregate per key and interval, so a
// cluster-wide outage is a few events per node per interval, not thousands.
// Kernel repeats (conntrack drops, netdevice waits), DNS failures and log
// timeouts all roll up through it.
package rollup

import (
	"slices"
	"sync"
	"time"
)

// Group is the aggregate of one key over one interval.
type Group[V any] struct {
	Key   string
	Count int
	First time.Time
	Last  time.Time
	// Value is the caller's aggregate, combined by the merge function.
	Value V
}

// Rollup aggregates values per key; an interval starts at a key's first
// occurrence. It is safe for concurrent use.
type Rollup[V any] struct {
	mu       sync.Mutex
	interval time.Duration
	merge    func(dst *V, src V)
	groups   map[string]*Group[V]
	maxKeys  int
	overflow int
}

// New returns a rollup over interval. merge combines a new value into the
// group's aggregate (nil keeps the first value).
func New[V any](interval time.Duration, merge func(dst *V, src V)) *Rollup[V] {
	return &Rollup[V]{interval: interval, merge: merge, groups: map[string]*Group[V]{}, maxKeys: 10000}
}

// Add records one occurrence at t. It reports whether it opened a new group,
// so callers can publish the first occurrence at once and the rest as the
// interval's rollup. Beyond the key cap, occurrences are counted in Overflow.
func (r *Rollup[V]) Add(key string, t time.Time, v V) (opened bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	g, ok := r.groups[key]
	if !ok {
		if len(r.groups) >= r.maxKeys {
			r.overflow++
			return false
		}
		r.groups[key] = &Group[V]{Key: key, Count: 1, First: t, Last: t, Value: v}
		return true
	}
	g.Count++
	if t.Before(g.First) {
		g.First = t
	}
	if t.After(g.Last) {
		g.Last = t
	}
	if r.merge != nil {
		r.merge(&g.Value, v)
	}
	return false
}

// Due removes and returns the groups whose interval has passed at now, in
// order of first occurrence.
func (r *Rollup[V]) Due(now time.Time) []Group[V] {
	return r.take(func(g *Group[V]) bool { return !now.Before(g.First.Add(r.interval)) })
}

// Flush removes and returns every group (at shutdown).
func (r *Rollup[V]) Flush() []Group[V] {
	return r.take(func(*Group[V]) bool { return true })
}

// Overflow returns and resets the count of occurrences dropped by the key cap.
func (r *Rollup[V]) Overflow() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.overflow
	r.overflow = 0
	return n
}

// Len is the number of open groups.
func (r *Rollup[V]) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.groups)
}

func (r *Rollup[V]) take(due func(*Group[V]) bool) []Group[V] {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Group[V]
	for k, g := range r.groups {
		if due(g) {
			out = append(out, *g)
			delete(r.groups, k)
		}
	}
	slices.SortFunc(out, func(a, b Group[V]) int { return a.First.Compare(b.First) })
	return out
}

package notify

import "container/heap"

// pendingSet holds a queue's waiting messages so that taking the next
// notification costs O(log n) per message taken, not a scan of everything
// waiting: under an incident's burst thousands of groups wait, and a scan
// per take made delivery quadratic in the backlog.
//
// Order is the one the queue promises: the lead is the most urgent message
// (lowest Priority), the earliest arrived among equals; messages merged
// with it are the earliest arrived of its class (same timeline, not a
// quiet refresh). A message replacing one of its group keeps that one's
// place in arrival order.
type pendingSet struct {
	seq     uint64
	byGroup map[string]*slot
	urgent  slotHeap
	// arrival lists (oldest first) per class: drill×2 + refresh.
	head, tail [4]*slot
}

type slot struct {
	m          *Message
	seq        uint64
	prio       int
	class      int
	hi         int // index in urgent
	prev, next *slot
}

func newPendingSet() *pendingSet { return &pendingSet{byGroup: map[string]*slot{}} }

func classOf(m *Message) int {
	c := 0
	if m.Drill {
		c = 2
	}
	if m.Kind == KindRefresh {
		c++
	}
	return c
}

func (p *pendingSet) len() int { return len(p.byGroup) }

func (p *pendingSet) get(group string) *Message {
	if s := p.byGroup[group]; s != nil {
		return s.m
	}
	return nil
}

// put adds m, or replaces its group's waiting message (m absorbs it); it
// reports whether it replaced one.
func (p *pendingSet) put(m *Message) bool {
	s := p.byGroup[m.GroupID]
	if s == nil {
		p.seq++
		s = &slot{m: m, seq: p.seq, prio: m.Priority(), class: classOf(m)}
		p.byGroup[m.GroupID] = s
		heap.Push(&p.urgent, s)
		p.append(s)
		return false
	}
	m.Absorb(s.m)
	s.m = m
	if pr := m.Priority(); pr != s.prio {
		s.prio = pr
		heap.Fix(&p.urgent, s.hi)
	}
	if c := classOf(m); c != s.class {
		p.unlink(s)
		s.class = c
		p.insert(s)
	}
	return true
}

// take removes and returns the lead and up to limit-1 messages merged with
// it (nil when empty). The lead is first; the caller orders the digest.
func (p *pendingSet) take(limit int) []*Message {
	if len(p.urgent) == 0 {
		return nil
	}
	lead := p.urgent[0]
	p.remove(lead)
	msgs := []*Message{lead.m}
	if lead.m.Kind == KindRefresh {
		return msgs
	}
	for s := p.head[lead.class]; s != nil && len(msgs) < limit; {
		next := s.next
		p.remove(s)
		msgs = append(msgs, s.m)
		s = next
	}
	return msgs
}

func (p *pendingSet) remove(s *slot) {
	heap.Remove(&p.urgent, s.hi)
	p.unlink(s)
	delete(p.byGroup, s.m.GroupID)
}

func (p *pendingSet) append(s *slot) {
	c := s.class
	s.prev, s.next = p.tail[c], nil
	if p.tail[c] != nil {
		p.tail[c].next = s
	} else {
		p.head[c] = s
	}
	p.tail[c] = s
}

// insert puts s into its class's list at its arrival place (rare: only a
// replacement that changes class, from a refresh to news or back).
func (p *pendingSet) insert(s *slot) {
	c := s.class
	after := p.tail[c]
	for after != nil && after.seq > s.seq {
		after = after.prev
	}
	s.prev = after
	if after == nil {
		s.next = p.head[c]
		p.head[c] = s
	} else {
		s.next = after.next
		after.next = s
	}
	if s.next != nil {
		s.next.prev = s
	} else {
		p.tail[c] = s
	}
}

func (p *pendingSet) unlink(s *slot) {
	c := s.class
	if s.prev != nil {
		s.prev.next = s.next
	} else {
		p.head[c] = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	} else {
		p.tail[c] = s.prev
	}
	s.prev, s.next = nil, nil
}

// slotHeap orders slots by priority, then arrival (container/heap).
type slotHeap []*slot

func (h slotHeap) Len() int { return len(h) }
func (h slotHeap) Less(i, j int) bool {
	if h[i].prio != h[j].prio {
		return h[i].prio < h[j].prio
	}
	return h[i].seq < h[j].seq
}
func (h slotHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].hi, h[j].hi = i, j
}
func (h *slotHeap) Push(x any) {
	s := x.(*slot)
	s.hi = len(*h)
	*h = append(*h, s)
}
func (h *slotHeap) Pop() any {
	old := *h
	s := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return s
}

package kernel

// prefilter finds which signatures' literals occur in a line in one pass
// (Aho-Corasick as a dense DFA over the bytes the literals use), so the
// regexps run only on the rare lines that can match.
type prefilter struct {
	class  [256]uint16 // byte → column; 0 for bytes in no literal
	ncls   int
	delta  []uint32 // [state*ncls+class] → next state*ncls<<1 | has-output
	output [][]int  // state → signature indices, including via suffix links
}

func newPrefilter(literals []string) *prefilter {
	p := &prefilter{}
	ncls := 1
	for _, lit := range literals {
		for i := 0; i < len(lit); i++ {
			if p.class[lit[i]] == 0 {
				p.class[lit[i]] = uint16(ncls)
				ncls++
			}
		}
	}
	p.ncls = ncls
	// Trie.
	type node struct {
		next []int32
		out  []int
		fail int
	}
	newNode := func() node {
		n := node{next: make([]int32, ncls)}
		for i := range n.next {
			n.next[i] = -1
		}
		return n
	}
	nodes := []node{newNode()}
	for id, lit := range literals {
		s := 0
		for i := 0; i < len(lit); i++ {
			c := p.class[lit[i]]
			if nodes[s].next[c] < 0 {
				nodes = append(nodes, newNode())
				nodes[s].next[c] = int32(len(nodes) - 1)
			}
			s = int(nodes[s].next[c])
		}
		nodes[s].out = append(nodes[s].out, id)
	}
	// Suffix links, breadth first, turning the trie into a full DFA.
	queue := []int{}
	for c := 0; c < ncls; c++ {
		if t := nodes[0].next[c]; t < 0 {
			nodes[0].next[c] = 0
		} else {
			nodes[t].fail = 0
			queue = append(queue, int(t))
		}
	}
	for len(queue) > 0 {
		s := queue[0]
		queue = queue[1:]
		nodes[s].out = append(nodes[s].out, nodes[nodes[s].fail].out...)
		for c := 0; c < ncls; c++ {
			t := nodes[s].next[c]
			if t < 0 {
				nodes[s].next[c] = nodes[nodes[s].fail].next[c]
				continue
			}
			nodes[t].fail = int(nodes[nodes[s].fail].next[c])
			queue = append(queue, int(t))
		}
	}
	p.delta = make([]uint32, len(nodes)*ncls)
	p.output = make([][]int, len(nodes))
	for s, n := range nodes {
		p.output[s] = n.out
		for c, t := range n.next {
			v := uint32(t) * uint32(ncls) << 1
			if len(nodes[t].out) > 0 {
				v |= 1
			}
			p.delta[s*ncls+c] = v
		}
	}
	return p
}

// match sets the bit of every signature whose literal occurs in s and
// reports whether any does. set must have room for all signatures.
func (p *prefilter) match(s string, set []uint64) bool {
	var st uint32
	found := false
	delta, class := p.delta, &p.class
	for i := 0; i < len(s); i++ {
		v := delta[st+uint32(class[s[i]])]
		st = v >> 1
		if v&1 != 0 {
			found = true
			for _, id := range p.output[st/uint32(p.ncls)] {
				set[id>>6] |= 1 << (id & 63)
			}
		}
	}
	return found
}

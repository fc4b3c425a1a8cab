package rollup

import (
	"testing"
	"time"
)

func TestRollupPerKeyAndInterval(t *testing.T) {
	t0 := time.Date(2020, 6, 14, 13, 14, 0, 0, time.UTC)
	r := New(time.Minute, func(dst *int, src int) { *dst = max(*dst, src) })
	opened := 0
	for i := range 100 {
		if r.Add("10.0.0.10/udp", t0.Add(time.Duration(i)*100*time.Millisecond), i) {
			opened++
		}
	}
	if r.Add("10.0.0.11/udp", t0.Add(30*time.Second), 7) {
		opened++
	}
	if opened != 2 {
		t.Fatalf("opened %d groups, want 2", opened)
	}
	if due := r.Due(t0.Add(59 * time.Second)); len(due) != 0 {
		t.Fatalf("due before the interval passed: %v", due)
	}
	due := r.Due(t0.Add(time.Minute))
	if len(due) != 1 {
		t.Fatalf("due = %v", due)
	}
	g := due[0]
	if g.Key != "10.0.0.10/udp" || g.Count != 100 || !g.First.Equal(t0) || !g.Last.Equal(t0.Add(9900*time.Millisecond)) || g.Value != 99 {
		t.Fatalf("group = %+v", g)
	}
	rest := r.Flush()
	if len(rest) != 1 || rest[0].Count != 1 || r.Len() != 0 {
		t.Fatalf("flush = %+v, len %d", rest, r.Len())
	}
	// A key seen again after its group was released opens a new interval.
	if !r.Add("10.0.0.10/udp", t0.Add(2*time.Minute), 1) {
		t.Fatal("key after release did not open a new group")
	}
}

func TestRollupKeyCap(t *testing.T) {
	r := New[struct{}](time.Minute, nil)
	r.maxKeys = 2
	now := time.Now()
	r.Add("a", now, struct{}{})
	r.Add("b", now, struct{}{})
	r.Add("c", now, struct{}{})
	r.Add("a", now, struct{}{})
	if r.Len() != 2 || r.Overflow() != 1 || r.Overflow() != 0 {
		t.Fatalf("len %d", r.Len())
	}
}

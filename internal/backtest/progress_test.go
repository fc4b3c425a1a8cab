package backtest

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgressString(t *testing.T) {
	for _, tt := range []struct {
		p    Progress
		want string
	}{
		{Progress{Read: 250_000, Total: 1_000_000, Elapsed: 2 * time.Second}, "read 250.0k of 1.00M events, 125.0k/s, 6s left"},
		{Progress{Read: 900, Total: 900, Elapsed: time.Second}, "read 900 of 900 events, 900/s"},
		{Progress{Read: 0, Total: 10}, "read 0 of 10 events, 0/s"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
}

// TestProgressLine: redrawn at most every Every, erased when done.
func TestProgressLine(t *testing.T) {
	var b bytes.Buffer
	now := time.Unix(0, 0)
	l := &ProgressLine{W: &b, Every: 200 * time.Millisecond, Now: func() time.Time { return now }}
	for i := range 10 { // 10 batches 50 ms apart: drawn at 0, 200, 400 ms
		l.Update(Progress{Read: int64(i+1) * 100, Total: 1000, Elapsed: time.Duration(i+1) * 50 * time.Millisecond})
		now = now.Add(50 * time.Millisecond)
	}
	l.Done()
	out := b.String()
	if n := strings.Count(out, "\r\033[Kread "); n != 3 {
		t.Errorf("drawn %d times, want 3:\n%q", n, out)
	}
	if !strings.HasSuffix(out, "\r\033[K") {
		t.Errorf("not erased at the end: %q", out)
	}
	var none bytes.Buffer
	(&ProgressLine{W: &none}).Done()
	if none.Len() != 0 {
		t.Errorf("an undrawn line was erased: %q", none.String())
	}
}

// TestExecuteReportsProgress: a real read reports each batch, growing to
// every message in the range (17 events, a drill and two bad ones: all
// read).
func TestExecuteReportsProgress(t *testing.T) {
	h := storedHistory(t)
	var seen []Progress
	h.run(t, []RuleSet{compile(t, "baseline", baseline)}, Options{Batch: 4, Progress: func(p Progress) { seen = append(seen, p) }})
	if len(seen) == 0 {
		t.Fatal("no progress reported")
	}
	last := seen[len(seen)-1]
	if last.Read != 20 || last.Total != 20 {
		t.Errorf("last progress %+v, want 20 of 20", last)
	}
	for i := 1; i < len(seen); i++ {
		if seen[i].Read < seen[i-1].Read {
			t.Errorf("progress went back: %+v then %+v", seen[i-1], seen[i])
		}
	}
}

package backtest

import (
	"fmt"
	"io"
	"time"
)

// Progress is how far a backtest's read of the stream has got.
type Progress struct {
	// Read counts the messages read from the stream so far.
	Read int64
	// Total is the messages in the range when the read began (an upper
	// bound: the range may end before the stream does).
	Total   int64
	Elapsed time.Duration
}

// String is one line: read, rate and the time left at that rate.
func (p Progress) String() string {
	rate := 0.0
	if p.Elapsed > 0 {
		rate = float64(p.Read) / p.Elapsed.Seconds()
	}
	s := fmt.Sprintf("read %s of %s events, %s/s", count(p.Read), count(p.Total), count(int64(rate)))
	if rate > 0 && p.Total > p.Read {
		eta := time.Duration(float64(p.Total-p.Read) / rate * float64(time.Second))
		s += ", " + eta.Round(time.Second).String() + " left"
	}
	return s
}

// count is n readably: 950, 12.3k, 4.56M.
func count(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	case n >= 1e4:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// ProgressLine redraws one line on a terminal as a read goes on, at most
// every Every, and erases it when done, so the report that follows (on
// stdout) reads as if it had never been there.
type ProgressLine struct {
	W     io.Writer
	Every time.Duration
	// Now is the clock (default time.Now).
	Now   func() time.Time
	last  time.Time
	drawn bool
}

// Update draws p unless the line was drawn less than Every ago.
func (l *ProgressLine) Update(p Progress) {
	now := time.Now
	if l.Now != nil {
		now = l.Now
	}
	t := now()
	if l.drawn && t.Sub(l.last) < l.Every {
		return
	}
	l.last, l.drawn = t, true
	fmt.Fprintf(l.W, "\r\033[K%s", p)
}

// Done erases the line.
func (l *ProgressLine) Done() {
	if l.drawn {
		fmt.Fprint(l.W, "\r\033[K")
	}
}

package notify

import (
	"context"
	"sync"
	"time"
)

// Limiter paces requests to one destination.
type Limiter interface {
	// Wait blocks until a request may go, or ctx ends.
	Wait(ctx context.Context) error
}

// WindowLimiter allows at most n requests in any window of length per: the
// way Slack (about 1 per second per channel) and WeCom (20 per minute per
// robot) state their limits. A token bucket would either allow a burst
// beyond the limit or waste part of it.
type WindowLimiter struct {
	n   int
	per time.Duration

	mu   sync.Mutex
	sent []time.Time // the last n request times, oldest first
}

var _ Limiter = (*WindowLimiter)(nil)

// NewWindowLimiter allows n requests per window; n <= 0 means unlimited
// (a nil *WindowLimiter never waits).
func NewWindowLimiter(n int, per time.Duration) *WindowLimiter {
	if n <= 0 || per <= 0 {
		return nil
	}
	return &WindowLimiter{n: n, per: per}
}

// Wait implements Limiter.
func (l *WindowLimiter) Wait(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	for {
		l.mu.Lock()
		now := time.Now()
		if len(l.sent) < l.n {
			l.sent = append(l.sent, now)
			l.mu.Unlock()
			return nil
		}
		next := l.sent[0].Add(l.per)
		if !now.Before(next) {
			l.sent = append(l.sent[1:], now)
			l.mu.Unlock()
			return nil
		}
		l.mu.Unlock()
		t := time.NewTimer(next.Sub(now))
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Delay is how long a request made now would wait (for a WeCom 45009
// answer: the robot's minute is used up).
func (l *WindowLimiter) Delay() time.Duration {
	if l == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.sent) < l.n {
		return 0
	}
	return max(time.Until(l.sent[0].Add(l.per)), 0)
}

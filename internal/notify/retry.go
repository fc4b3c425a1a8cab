package notify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// Backoff is the one retry policy: exponential backoff with jitter, the
// server's Retry-After honoured exactly (never retried earlier), all within
// a budget after which the caller dead-letters.
type Backoff struct {
	Initial    time.Duration
	Max        time.Duration
	MaxElapsed time.Duration
}

// ErrBudget is wrapped by Run's error when retries are exhausted.
var ErrBudget = errors.New("retry budget exhausted")

// Attempt is one try; Run passes the attempt number, from 1.
type Attempt func(ctx context.Context, n int) error

// Observer hears about each failed attempt (for logs and metrics).
type Observer func(attempt int, err error, wait time.Duration)

// Wait is the backoff before retry number n (n ≥ 1): between half and all
// of min(Max, Initial·2ⁿ⁻¹), so retries spread out but never hammer.
func (b Backoff) Wait(n int) time.Duration {
	d := b.Initial
	for i := 1; i < n && d < b.Max; i++ {
		d *= 2
	}
	d = min(d, b.Max)
	half := d / 2
	return half + rand.N(half+1)
}

// Run calls try until it succeeds, fails permanently, the budget runs out
// or ctx ends. The final error is the last attempt's, wrapped with ErrBudget
// when the budget ran out; ctx's error when ctx ended.
func (b Backoff) Run(ctx context.Context, try Attempt, observe Observer) (attempts int, err error) {
	start := time.Now()
	deadline := start.Add(b.MaxElapsed)
	for n := 1; ; n++ {
		actx, cancel := context.WithDeadline(ctx, deadline)
		err = try(actx, n)
		cancel()
		if err == nil {
			return n, nil
		}
		if ctx.Err() != nil {
			return n, ctx.Err()
		}
		retryable, after, _ := Classify(err)
		if !retryable {
			if observe != nil {
				observe(n, err, -1)
			}
			return n, err
		}
		wait := b.Wait(n)
		if after > 0 {
			// The server knows when it can take the request: go then, plus
			// a little jitter so senders it throttled together spread out.
			wait = after + rand.N(min(after/10, time.Second)+1)
		}
		if left := time.Until(deadline); wait > left {
			if observe != nil {
				observe(n, err, -1)
			}
			return n, fmt.Errorf("%w after %d attempts in %s (next wait %s): %w",
				ErrBudget, n, time.Since(start).Round(time.Millisecond), wait.Round(time.Millisecond), err)
		}
		if observe != nil {
			observe(n, err, wait)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return n, ctx.Err()
		case <-t.C:
		}
	}
}

package notify_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aftershock/aftershock/internal/notify"
)

func TestBackoffWait(t *testing.T) {
	b := notify.Backoff{Initial: time.Second, Max: 10 * time.Second}
	for n, full := range map[int]time.Duration{1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 30: 10 * time.Second} {
		for range 50 {
			if w := b.Wait(n); w < full/2 || w > full {
				t.Fatalf("Wait(%d) = %s, want within [%s, %s]", n, w, full/2, full)
			}
		}
	}
}

func TestRun(t *testing.T) {
	errTransient := notify.Transient("http 503", 0, errors.New("busy"))
	tests := []struct {
		name         string
		errs         []error // per attempt; past the end: success
		budget       time.Duration
		wantAttempts int
		wantErr      string
		minElapsed   time.Duration
		maxElapsed   time.Duration
	}{
		{"first try", nil, time.Minute, 1, "", 0, 0},
		{"recovers after two 503", []error{errTransient, errTransient}, time.Minute, 3, "", 1500 * time.Millisecond, 3 * time.Second},
		{"unclassified error is transient", []error{errors.New("connection reset by peer")}, time.Minute, 2, "", 500 * time.Millisecond, time.Second},
		{"Retry-After is honoured, never earlier", []error{notify.Transient("http 429", 7*time.Second, nil)}, time.Minute, 2, "", 7 * time.Second, 7700 * time.Millisecond},
		{"permanent stops at once", []error{notify.Permanent("http 404", errors.New("channel_not_found"))}, time.Minute, 1, "http 404: channel_not_found", 0, 0},
		{"Retry-After beyond the budget gives up now", []error{notify.Transient("http 429", time.Hour, nil)}, 15 * time.Minute, 1, "retry budget exhausted", 0, 0},
		{"budget exhausted", []error{errTransient, errTransient, errTransient, errTransient, errTransient, errTransient, errTransient}, 3 * time.Second, 3, "retry budget exhausted after 3 attempts", 1500 * time.Millisecond, 3 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := notify.Backoff{Initial: time.Second, Max: time.Minute, MaxElapsed: tt.budget}
				start := time.Now()
				attempts, err := b.Run(t.Context(), func(_ context.Context, n int) error {
					if n <= len(tt.errs) {
						return tt.errs[n-1]
					}
					return nil
				}, nil)
				elapsed := time.Since(start)
				if attempts != tt.wantAttempts {
					t.Errorf("attempts %d, want %d", attempts, tt.wantAttempts)
				}
				if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !contains(err.Error(), tt.wantErr)) {
					t.Errorf("err %v, want %q", err, tt.wantErr)
				}
				if elapsed < tt.minElapsed || elapsed > tt.maxElapsed {
					t.Errorf("took %s (fake time), want within [%s, %s]", elapsed, tt.minElapsed, tt.maxElapsed)
				}
				if tt.wantErr != "" && len(tt.errs) > 0 {
					if _, _, reason := notify.Classify(err); reason == "" {
						t.Error("final error lost its reason")
					}
				}
			})
		})
	}
}

func TestRunStopsWithContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		b := notify.Backoff{Initial: time.Minute, Max: time.Hour, MaxElapsed: 24 * time.Hour}
		done := make(chan error)
		go func() {
			_, err := b.Run(ctx, func(context.Context, int) error { return errors.New("down") }, nil)
			done <- err
		}()
		synctest.Wait()
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want context.Canceled", err)
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"5", 5 * time.Second, true},
		{"0", 0, true},
		{"1.5", 1500 * time.Millisecond, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-3", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := notify.ParseRetryAfter(tt.in, now)
			if got != tt.want || ok != tt.ok {
				t.Errorf("= %s, %v; want %s, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// TestRetryableStatus is the default status table, Alertmanager RetryTests
// style: every status code from 100 to 599 is checked.
func TestRetryableStatus(t *testing.T) {
	for code := 100; code < 600; code++ {
		want := code == 408 || code == 425 || code == 429 || code >= 500
		if got := notify.RetryableStatus(code); got != want {
			t.Errorf("status %d: retryable %v, want %v", code, got, want)
		}
	}
}

func TestStatusError(t *testing.T) {
	now := time.Now()
	resp := &http.Response{StatusCode: 429, Header: http.Header{"Retry-After": {"3"}}}
	retryable, after, reason := notify.Classify(notify.StatusError(resp, notify.RetryableStatus, "slow down", now))
	if !retryable || after != 3*time.Second || reason != "http 429" {
		t.Errorf("429: %v %s %q", retryable, after, reason)
	}
	resp = &http.Response{StatusCode: 404, Header: http.Header{"Retry-After": {"3"}}}
	err := notify.StatusError(resp, notify.RetryableStatus, "channel_not_found", now)
	if retryable, _, _ := notify.Classify(err); retryable || !contains(err.Error(), "channel_not_found") {
		t.Errorf("404: %v", err)
	}
}

func TestRedact(t *testing.T) {
	base := notify.Transient("transport", 0, errors.New(`Post "https://hooks.slack.com/services/T0/B0/SECRET": connection refused`))
	err := notify.Redact(base, "", "https://hooks.slack.com/services/T0/B0/SECRET")
	if contains(err.Error(), "SECRET") || !contains(err.Error(), "<redacted>") {
		t.Fatalf("not redacted: %v", err)
	}
	if retryable, _, reason := notify.Classify(err); !retryable || reason != "transport" {
		t.Fatal("redaction hid the classification")
	}
	if notify.Redact(nil, "x") != nil {
		t.Fatal("nil error became non-nil")
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Error is a classified delivery failure.
type Error struct {
	// Reason is short and stable ("http 503", "errcode 45009"): it goes
	// into dead letters, logs and metrics.
	Reason    string
	Retryable bool
	// RetryAfter is how long the server asked us to wait (0: not said).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Reason
	}
	return e.Reason + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Permanent is a failure retrying cannot fix (bad key, unknown channel).
func Permanent(reason string, err error) error {
	return &Error{Reason: reason, Err: err}
}

// Transient is a failure worth retrying, after the server's delay if it
// gave one.
func Transient(reason string, after time.Duration, err error) error {
	return &Error{Reason: reason, Retryable: true, RetryAfter: after, Err: err}
}

// Classify says whether err is worth retrying, after how long the server
// asked, and a short reason. Unclassified errors (connection refused or
// reset, timeouts) are transient.
func Classify(err error) (retryable bool, after time.Duration, reason string) {
	var e *Error
	if errors.As(err, &e) {
		return e.Retryable, e.RetryAfter, e.Reason
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return true, 0, "timeout"
	}
	return true, 0, "transport"
}

// RetryableStatus is the usual HTTP table: 408, 425, 429 and 5xx are
// transient, every other non-2xx status is permanent. Receivers whose
// service says otherwise use their own table.
func RetryableStatus(code int) bool {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooEarly, code == http.StatusTooManyRequests:
		return true
	case code >= 500:
		return true
	}
	return false
}

// ParseRetryAfter reads a Retry-After header: delay seconds or an HTTP
// date. ok is false when the header is absent or unreadable.
func ParseRetryAfter(h string, now time.Time) (d time.Duration, ok bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	if s, err := strconv.ParseFloat(h, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(s * float64(time.Second)), true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// StatusError classifies a non-2xx response with the receiver's table,
// honouring Retry-After; body is a short excerpt of the response.
func StatusError(resp *http.Response, retryable func(int) bool, body string, now time.Time) error {
	reason := fmt.Sprintf("http %d", resp.StatusCode)
	var err error
	if body = strings.TrimSpace(body); body != "" {
		err = errors.New(Truncate(body, 200, "…"))
	}
	if !retryable(resp.StatusCode) {
		return Permanent(reason, err)
	}
	after, _ := ParseRetryAfter(resp.Header.Get("Retry-After"), now)
	return Transient(reason, after, err)
}

// Redact replaces every non-empty secret in err's text with a mask. The
// result unwraps to err, so errors.Is and Classify still see through it.
func Redact(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, s := range secrets {
		if s != "" && strings.Contains(msg, s) {
			msg = strings.ReplaceAll(msg, s, "<redacted>")
			changed = true
		}
	}
	if !changed {
		return err
	}
	return &redactedError{msg: msg, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

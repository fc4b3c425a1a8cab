package notifytest

import (
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Fault is how a fake server misbehaves on one request. The zero Fault
// behaves.
type Fault struct {
	// Status, when set, is answered instead of success (with RetryAfter as
	// the Retry-After header and Body as the body).
	Status     int
	RetryAfter string
	Body       string
	// Delay holds the reply back (slow server); the request still succeeds
	// afterwards unless another field says otherwise.
	Delay time.Duration
	// Reset drops the connection without a reply.
	Reset bool
	// Hook lets a fake add its own misbehaviour (e.g. a WeCom errcode).
	Hook string
}

// Script hands out faults to successive requests; after the last, requests
// behave.
type Script struct {
	mu     sync.Mutex
	faults []Fault
	n      int
}

// NewScript returns a script of faults.
func NewScript(faults ...Fault) *Script { return &Script{faults: faults} }

// Next returns the fault for the next request.
func (s *Script) Next() Fault {
	if s == nil {
		return Fault{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	if s.n <= len(s.faults) {
		return s.faults[s.n-1]
	}
	return Fault{}
}

// Apply performs the transport-level part of f; call it after reading the
// request body (only then does the server notice a client that gave up on
// a slow reply). It returns true when the
// request has been answered (an error status or a reset) and the fake
// must not reply.
func Apply(f Fault, w http.ResponseWriter, r *http.Request) bool {
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return true
		}
	}
	if f.Reset {
		Reset(w)
		return true
	}
	if f.Status != 0 {
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		w.WriteHeader(f.Status)
		_, _ = w.Write([]byte(f.Body))
		return true
	}
	return false
}

// RetryAfter formats whole seconds for Fault.RetryAfter.
func RetryAfter(d time.Duration) string { return strconv.Itoa(int(d / time.Second)) }

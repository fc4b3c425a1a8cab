package spool

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/event"
)

var errNotConnected = errors.New("not connected")

// Permanent reports whether err is the server refusing an event for good (a
// 4xx JetStream API error such as "message size exceeds maximum"): retrying
// cannot help, so the event is dropped rather than blocking the spool.
func Permanent(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.Code >= 400 && api.Code < 500
}

// Run publishes spooled events, oldest first, whenever NATS can take them,
// until ctx ends. After a failure it retries with backoff; while NATS is
// disconnected it checks once per RetryMin.
func (s *Spool) Run(ctx context.Context) {
	backoff := s.opts.RetryMin
	timer := time.NewTimer(0)
	if !timer.Stop() {
		<-timer.C
	}
	defer timer.Stop()
	for {
		err := s.replay(ctx)
		if ctx.Err() != nil {
			return
		}
		var wait <-chan time.Time
		switch {
		case errors.Is(err, errNotConnected):
			timer.Reset(s.opts.RetryMin)
			wait = timer.C
		case err != nil:
			s.log.Warn("spool replay failed; retrying", "in", backoff, "err", err)
			timer.Reset(backoff)
			wait = timer.C
			backoff = min(2*backoff, s.opts.RetryMax)
		default:
			backoff = s.opts.RetryMin
		}
		select {
		case <-ctx.Done():
			return
		case <-s.kick:
		case <-wait:
		}
		if wait != nil && !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// replay publishes drop reports, then events, until the spool is empty or a
// publish fails.
func (s *Spool) replay(ctx context.Context) error {
	s.mu.Lock()
	idle := s.unread() == 0 && len(s.reports) == 0
	s.mu.Unlock()
	if idle {
		return nil
	}
	if !s.connected() {
		return errNotConnected
	}
	if err := s.publishReports(ctx); err != nil {
		return err
	}
	for ctx.Err() == nil {
		ev, seq, off, end, err := s.head()
		if err != nil {
			return err
		}
		if ev.Event == nil {
			return nil
		}
		err = s.opts.Target.Publish(ctx, ev)
		if err != nil && !Permanent(err) {
			return err
		}
		s.mu.Lock()
		if err != nil {
			s.stats.Rejected++
			s.log.Error("server refused a spooled event; dropping it", "type", ev.Type, "id", ev.ID, "err", err)
		} else {
			s.stats.Replayed++
		}
		aerr := s.advance(seq, off, end)
		s.mu.Unlock()
		if aerr != nil {
			return aerr
		}
	}
	return ctx.Err()
}

// head reads the oldest unread event. A record that does not decode as an
// event (it passed its checksum, so it was written that way) is skipped and
// counted as rejected.
func (s *Spool) head() (ev event.Encoded, seq uint64, off, end int64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.unread() > 0 {
		sg := s.segs[0]
		if s.rd == nil || s.rdSeq != sg.seq || s.rd.off != s.headOff {
			s.closeReader()
			if s.rd, err = openReader(s.path(sg.seq), s.headOff); err != nil {
				return event.Encoded{}, 0, 0, 0, fmt.Errorf("open %s: %w", segName(sg.seq), err)
			}
			s.rdSeq = sg.seq
		}
		p, at, rerr := s.rd.next()
		if rerr != nil {
			// The segment ends early (a failed write was cut, or the disk
			// lost data): what remains of it cannot be read.
			lost := sg.records - s.headConsumed
			s.log.Error("spool segment unreadable; skipping its rest", "segment", segName(sg.seq), "events", lost, "err", rerr)
			s.stats.Rejected += int64(lost)
			s.headConsumed = sg.records
			if err := s.popHead(); err != nil {
				return event.Encoded{}, 0, 0, 0, err
			}
			continue
		}
		e, derr := event.Decode(p)
		if derr != nil {
			s.log.Error("spooled record is not an event; skipping it", "segment", segName(sg.seq), "offset", at, "err", derr)
			s.stats.Rejected++
			if err := s.advance(sg.seq, at, s.rd.off); err != nil {
				return event.Encoded{}, 0, 0, 0, err
			}
			continue
		}
		// The reader reuses its buffer: the record is kept as it was
		// spooled, the very bytes published.
		return event.Encoded{Event: e, JSON: append([]byte(nil), p...)}, sg.seq, at, s.rd.off, nil
	}
	return event.Encoded{}, 0, 0, 0, nil
}

// advance moves the head past the record at (seq, off) if it is still the
// head: the spool may have dropped it meanwhile. The caller holds mu.
func (s *Spool) advance(seq uint64, off, end int64) error {
	if len(s.segs) == 0 || s.segs[0].seq != seq || s.headOff != off {
		return nil
	}
	s.headOff = end
	s.headConsumed++
	if s.headConsumed >= s.segs[0].records {
		return s.popHead()
	}
	if s.dirtyCursor++; s.dirtyCursor >= cursorEvery {
		return s.saveCursor()
	}
	return nil
}

const reportsFile = "dropped.json"

// dropReport accumulates drops until it is published. Event is set, and the
// report frozen, at the first publish attempt, so retries keep one id; drops
// after that start a new report.
type dropReport struct {
	Dropped int             `json:"dropped"`
	First   time.Time       `json:"first"`
	Last    time.Time       `json:"last"`
	At      time.Time       `json:"at"`
	Event   json.RawMessage `json:"event,omitempty"`
}

// addDrop records n dropped events spanning first..last. The caller holds mu.
func (s *Spool) addDrop(n int, first, last time.Time) {
	if n == 0 {
		return
	}
	if len(s.reports) == 0 || s.reports[len(s.reports)-1].Event != nil {
		s.reports = append(s.reports, dropReport{First: first, Last: last})
	}
	r := &s.reports[len(s.reports)-1]
	r.Dropped += n
	r.At = s.opts.Now()
	if !first.IsZero() && (r.First.IsZero() || first.Before(r.First)) {
		r.First = first
	}
	if last.After(r.Last) {
		r.Last = last
	}
	s.saveReports()
}

// publishReports publishes pending collector.spool_dropped events.
func (s *Spool) publishReports(ctx context.Context) error {
	for {
		s.mu.Lock()
		if len(s.reports) == 0 {
			s.mu.Unlock()
			return nil
		}
		r := &s.reports[0]
		if r.Event == nil {
			ev, err := s.opts.NewEvent(event.TypeSpoolDropped, r.At, event.SpoolDropped{Dropped: r.Dropped, First: r.First, Last: r.Last})
			if err == nil {
				r.Event, err = ev.Encode()
			}
			if err != nil {
				s.reports = s.reports[1:]
				s.saveReports()
				s.mu.Unlock()
				return fmt.Errorf("build spool_dropped event: %w", err)
			}
			s.saveReports()
		}
		ev, err := event.Decode(r.Event)
		s.mu.Unlock()
		if err != nil {
			s.log.Error("spool drop report unreadable; discarding it", "err", err)
		} else if err = s.opts.Target.Publish(ctx, event.Encoded{Event: ev, JSON: r.Event}); err != nil && !Permanent(err) {
			return fmt.Errorf("publish spool_dropped: %w", err)
		}
		s.mu.Lock()
		s.reports = s.reports[1:]
		s.saveReports()
		s.mu.Unlock()
	}
}

func (s *Spool) saveReports() {
	p := filepath.Join(s.opts.Dir, reportsFile)
	if len(s.reports) == 0 {
		_ = os.Remove(p)
		return
	}
	b, _ := json.Marshal(s.reports)
	if err := writeAtomic(p, b); err != nil {
		s.log.Warn("save spool drop report", "err", err)
	}
}

// loadReports reads pending drop reports; an unreadable file is logged and
// ignored so it never blocks a start.
func (s *Spool) loadReports() {
	b, err := os.ReadFile(filepath.Join(s.opts.Dir, reportsFile))
	if err != nil {
		return
	}
	if err := json.Unmarshal(b, &s.reports); err != nil {
		s.log.Warn("ignoring unreadable spool drop report", "err", err)
		s.reports = nil
	}
}

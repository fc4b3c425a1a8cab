// Package spool keeps events on disk while NATS is away and publishes them,
// in order and with their original ids, when it returns.
//
// The spool wraps the collector's JetStream publisher. While the spool is
// empty and NATS is connected, an event goes straight through; when a publish
// fails (unreachable, not acknowledged in time, no stream yet) it is appended
// to the spool, and while the spool holds anything every new event queues
// behind it, so order is kept. Run replays the spool oldest first.
//
// On disk the spool is a directory of segment files of length- and
// checksum-framed records, a cursor file and a drop report file. A crash in
// the middle of a write leaves at most a torn tail, which Open truncates. The
// size is capped: when full, whole oldest segments are dropped and a
// collector.spool_dropped event reports how many events were lost and the
// times they spanned.
//
// Duplicates: a replayed event keeps its id, which is also its Nats-Msg-Id, so
// JetStream stores a retried publish once as long as the retry comes within
// the stream's duplicate window (10m for EVENTS). Events spooled during an
// outage were never stored, so a long outage adds no duplicates. The one case
// that can store an event twice is a publish that reached the server but
// whose ack was lost, retried more than the window later (an outage that
// began during that very publish, or a restart whose last cursor write was
// lost); consumers that must be exact dedupe on the CloudEvent id.
package spool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// Target is where events go when it can take them: the JetStream publisher.
type Target interface {
	Publish(ctx context.Context, ev event.Encoded) error
}

// Options configure a spool; zero fields take defaults in Defaults.
type Options struct {
	// Dir holds the spool's files; it is created if missing.
	Dir string
	// MaxBytes caps the segment files' total size (default 64 MiB).
	MaxBytes int64
	// SegmentBytes is the size at which a segment is closed and a new one
	// begun; the unit in which the oldest events are dropped when full
	// (default MaxBytes/16, between 64 KiB and 4 MiB).
	SegmentBytes int64
	// Target receives the events.
	Target Target
	// Connected reports whether publishing can be tried now; nil means always.
	Connected func() bool
	// NewEvent builds the collector.spool_dropped event (the collector fills
	// the envelope). Required.
	NewEvent func(typ string, t time.Time, data any) (*event.Event, error)
	// RetryMin and RetryMax bound the pause between failed replays
	// (defaults 1s and 30s).
	RetryMin, RetryMax time.Duration
	Log                *slog.Logger
	// Now is the clock (tests).
	Now func() time.Time
}

// Defaults fills zero fields.
func (o *Options) Defaults() {
	if o.MaxBytes == 0 {
		o.MaxBytes = 64 << 20
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = min(max(o.MaxBytes/16, 64<<10), 4<<20)
	}
	if o.RetryMin == 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax == 0 {
		o.RetryMax = 30 * time.Second
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// MinMaxBytes is the smallest accepted cap: room for two largest events.
const MinMaxBytes = 2 * (maxPayload + frameHeader)

// Validate names every bad field.
func (o *Options) Validate() error {
	var errs []error
	if o.Dir == "" {
		errs = append(errs, errors.New("spool dir: empty"))
	}
	if o.MaxBytes < MinMaxBytes {
		errs = append(errs, fmt.Errorf("spool max bytes %d: must be at least %d (two largest events)", o.MaxBytes, MinMaxBytes))
	}
	if o.SegmentBytes < 4<<10 || o.SegmentBytes > o.MaxBytes/2 {
		errs = append(errs, fmt.Errorf("spool segment bytes %d: must be between 4096 and half of max bytes (%d)", o.SegmentBytes, o.MaxBytes/2))
	}
	if o.Target == nil {
		errs = append(errs, errors.New("spool target: nil"))
	}
	if o.NewEvent == nil {
		errs = append(errs, errors.New("spool new event: nil"))
	}
	if o.RetryMin <= 0 || o.RetryMax < o.RetryMin {
		errs = append(errs, fmt.Errorf("spool retry %s..%s: want 0 < min <= max", o.RetryMin, o.RetryMax))
	}
	return errors.Join(errs...)
}

// ErrClosed is returned by Publish after Close.
var ErrClosed = errors.New("spool closed")

// Stats is a snapshot of the spool's counters.
type Stats struct {
	Events   int   // spooled, not yet published
	Bytes    int64 // on disk, in segment files
	Spooled  int64 // appended since Open
	Replayed int64 // published from the spool since Open
	Dropped  int64 // dropped because the spool was full, since Open
	Rejected int64 // refused by the server for good, since Open
}

// Spool is a Target that keeps what it cannot publish. It is safe for
// concurrent use.
type Spool struct {
	opts Options
	log  *slog.Logger

	// pubMu serialises Publish: the emptiness check and the direct publish
	// must not interleave with another event's append, or order breaks.
	pubMu sync.Mutex

	mu           sync.Mutex
	segs         []segment // oldest first; the last one takes appends
	w            *os.File  // open on the last segment, nil until the next append
	headOff      int64     // next unread record in segs[0]
	headConsumed int       // records of segs[0] before headOff
	records      int       // records in all segments
	bytes        int64
	nextSeq      uint64
	rd           *reader // replay reader on segs[0]
	rdSeq        uint64
	dirtyCursor  int
	reports      []dropReport
	closed       bool
	stats        Stats

	kick chan struct{}
}

type segment struct {
	seq     uint64
	size    int64
	records int
}

// Open recovers the spool in opts.Dir: torn tails are truncated, and events
// left by a previous run are queued for Run to publish.
func Open(opts Options) (*Spool, error) {
	opts.Defaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool dir: %w", err)
	}
	s := &Spool{opts: opts, log: opts.Log.With("component", "spool"), kick: make(chan struct{}, 1)}
	if err := s.recover(); err != nil {
		return nil, fmt.Errorf("recover spool %s: %w", opts.Dir, err)
	}
	if n := s.unread(); n > 0 {
		s.log.Info("spool has events from a previous run", "events", n, "bytes", s.bytes)
		s.kickReplay()
	}
	return s, nil
}

// Publish publishes ev, or spools it when NATS cannot take it now. It fails
// only when the event cannot be kept (the disk write failed, or the server
// refused the event for good).
func (s *Spool) Publish(ctx context.Context, ev event.Encoded) error {
	b := ev.JSON
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	closed, empty := s.closed, s.unread() == 0
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	if empty && s.connected() {
		err := s.opts.Target.Publish(ctx, ev)
		if err == nil {
			return nil
		}
		if Permanent(err) {
			return err
		}
		s.log.Debug("publish failed; spooling", "type", ev.Type, "id", ev.ID, "err", err)
	}
	s.mu.Lock()
	err := s.append(b)
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("spool %s %s: %w", ev.Type, ev.ID, err)
	}
	s.kickReplay()
	return nil
}

func (s *Spool) connected() bool {
	return s.opts.Connected == nil || s.opts.Connected()
}

func (s *Spool) kickReplay() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// Stats returns the current counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Events = s.unread()
	st.Bytes = s.bytes
	return st
}

// Close saves the replay position and closes the files. Events still spooled
// are published by the next Open's Run.
func (s *Spool) Close() error {
	s.pubMu.Lock()
	defer s.pubMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.saveCursor()
	if s.w != nil {
		err = errors.Join(err, s.w.Close())
		s.w = nil
	}
	s.closeReader()
	return err
}

func (s *Spool) unread() int { return s.records - s.headConsumed }

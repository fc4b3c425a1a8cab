package silence

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/route"
)

// Add validates s (an empty ID gets a new ULID) and stores it; it fails if
// the ID exists.
func Add(ctx context.Context, kv jetstream.KeyValue, s *Silence, now time.Time) error {
	if s.ID == "" {
		s.ID = event.NewID(now)
	}
	if s.CreatedAt.IsZero() {
		s.CreatedAt = now.UTC()
	}
	if _, err := s.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode silence %s: %w", s.ID, err)
	}
	if _, err := kv.Create(ctx, s.ID, b); err != nil {
		return fmt.Errorf("store silence %s: %w", s.ID, err)
	}
	return nil
}

// List returns every stored silence, oldest first, and the entries that
// are not valid silences (with why), as bus.ReadKV reads the bucket (no
// consumer, and no key listing, which came back empty while silences were
// rewritten). bucket is the KV bucket's name (bus.BucketSilence).
func List(ctx context.Context, js jetstream.JetStream, bucket string) ([]*Silence, []error, error) {
	latest, err := bus.ReadKV(ctx, js, bucket)
	if err != nil {
		return nil, nil, fmt.Errorf("list silences: %w", err)
	}
	var out []*Silence
	var bad []error
	for key, b := range latest {
		s, _, err := Decode(key, b)
		if err != nil {
			bad = append(bad, err)
			continue
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *Silence) int { return a.StartsAt.Compare(b.StartsAt) })
	return out, bad, nil
}

// ErrNotFound is returned by Expire for an unknown id.
var ErrNotFound = errors.New("no such silence")

// Expire ends the silence now (a pending one never starts); it keeps the
// record for the audit trail. Concurrent edits are detected by revision.
func Expire(ctx context.Context, kv jetstream.KeyValue, id string, now time.Time) (*Silence, error) {
	e, err := kv.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, fmt.Errorf("expire %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("expire %s: %w", id, err)
	}
	s, _, err := Decode(id, e.Value())
	if err != nil {
		return nil, fmt.Errorf("expire: %w", err)
	}
	if s.StateAt(now) == Expired {
		return s, nil
	}
	s.EndsAt, s.UpdatedAt = now.UTC(), now.UTC()
	if s.StartsAt.After(s.EndsAt) {
		s.StartsAt = s.EndsAt.Add(-time.Nanosecond) // a pending silence: keep it valid, already over
	}
	b, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode silence %s: %w", id, err)
	}
	if _, err := kv.Update(ctx, id, b, e.Revision()); err != nil {
		return nil, fmt.Errorf("expire %s: %w", id, err)
	}
	return s, nil
}

// Set is the silences in force, kept current by watching the bucket. It
// is safe for concurrent use.
type Set struct {
	log      *slog.Logger
	mu       sync.RWMutex
	byID     map[string]compiled
	invalid  map[string]error
	rejected uint64
}

type compiled struct {
	s  *Silence
	ms route.Matchers
}

// Watch loads the bucket and follows it until ctx ends. An entry that is
// not a valid silence is logged, counted and ignored (see Invalid and
// Rejected), never fatal; written over a valid silence it does not erase
// it: the silence stays in force until it is deleted or ends.
func Watch(ctx context.Context, kv jetstream.KeyValue, log *slog.Logger) (*Set, error) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		return nil, fmt.Errorf("watch silences: %w", err)
	}
	set := &Set{log: log, byID: map[string]compiled{}, invalid: map[string]error{}}
	for {
		select {
		case e := <-w.Updates():
			if e == nil {
				go set.follow(ctx, w)
				return set, nil
			}
			set.apply(e)
		case <-ctx.Done():
			_ = w.Stop()
			return nil, fmt.Errorf("watch silences: %w", ctx.Err())
		}
	}
}

func (set *Set) follow(ctx context.Context, w jetstream.KeyWatcher) {
	defer func() { _ = w.Stop() }()
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e != nil {
				set.apply(e)
			}
		case <-ctx.Done():
			return
		}
	}
}

func (set *Set) apply(e jetstream.KeyValueEntry) {
	set.mu.Lock()
	defer set.mu.Unlock()
	key := e.Key()
	delete(set.invalid, key)
	if e.Operation() != jetstream.KeyValuePut {
		delete(set.byID, key)
		return
	}
	s, ms, err := Decode(key, e.Value())
	if err != nil {
		// Not what a silence writer stores (a typo, or something that is
		// not a silence at all): the last valid silence of this key, if
		// any, stays in force.
		set.invalid[key] = err
		set.rejected++
		_, kept := set.byID[key]
		set.log.Warn("invalid silence ignored", "key", key, "revision", e.Revision(), "kept_previous", kept, "err", err)
		return
	}
	set.byID[key] = compiled{s, ms}
	set.log.Info("silence loaded", "id", key, "matchers", s.Matchers, "starts_at", s.StartsAt, "ends_at", s.EndsAt, "created_by", s.CreatedBy)
}

// Muted implements dispatch.Muter: the id of an active silence matching
// labels.
func (set *Set) Muted(labels map[string]string, now time.Time) (string, bool) {
	set.mu.RLock()
	defer set.mu.RUnlock()
	for id, c := range set.byID {
		if c.s.StateAt(now) == Active && c.ms.Matches(labels) {
			return id, true
		}
	}
	return "", false
}

// Invalid counts stored entries that are not valid silences.
func (set *Set) Invalid() int {
	set.mu.RLock()
	defer set.mu.RUnlock()
	return len(set.invalid)
}

// Rejected counts the invalid entries seen since Watch started,
// including those written over a valid silence.
func (set *Set) Rejected() uint64 {
	set.mu.RLock()
	defer set.mu.RUnlock()
	return set.rejected
}

// Len counts valid silences (any state).
func (set *Set) Len() int {
	set.mu.RLock()
	defer set.mu.RUnlock()
	return len(set.byID)
}

// ErrExpired is returned by Replace for a silence that has ended.
var ErrExpired = errors.New("silence has expired")

// Replace changes the stored silence s.ID (matchers, times, author,
// comment), keeping its creation time; an expired silence stays as it was
// (the audit trail), so the caller creates a new one instead. Concurrent
// edits are detected by revision.
func Replace(ctx context.Context, kv jetstream.KeyValue, s *Silence, now time.Time) error {
	e, err := kv.Get(ctx, s.ID)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("update %s: %w", s.ID, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("update %s: %w", s.ID, err)
	}
	old, _, err := Decode(s.ID, e.Value())
	if err != nil {
		return fmt.Errorf("update: %w", err)
	}
	if old.StateAt(now) == Expired {
		return fmt.Errorf("update %s: %w at %s", s.ID, ErrExpired, old.EndsAt.Format(time.RFC3339))
	}
	s.CreatedAt, s.UpdatedAt = old.CreatedAt, now.UTC()
	if _, err := s.Validate(); err != nil {
		return err
	}
	b, err := json.Marshal(s)
	if err != nil {
		return fmt.Errorf("encode silence %s: %w", s.ID, err)
	}
	if _, err := kv.Update(ctx, s.ID, b, e.Revision()); err != nil {
		return fmt.Errorf("update %s: %w", s.ID, err)
	}
	return nil
}

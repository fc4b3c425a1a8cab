// Package lease holds a leadership lease in a JetStream KV key, so that one
// of several routers runs what must run once (the notifier). It is
// JetStream's own compare-and-set and TTL, nothing more: whoever creates the
// key holds the lease, the holder renews it by updating the key at its last
// revision, and the bucket's TTL removes the key when its holder dies.
package lease

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrLost means another holder has the key now: this holder must stop
// acting as leader at once.
var ErrLost = errors.New("lease lost")

// Lease is a held lease.
type Lease struct {
	log    *slog.Logger
	kv     jetstream.KeyValue
	key    string
	holder string
	every  time.Duration
	ttl    time.Duration
	rev    uint64
}

// Options name the lease and its timing. TTL must be the bucket's TTL.
type Options struct {
	Key string
	// Holder identifies the process. A holder whose name starts with the
	// same Owner (up to the first "/") takes the lease over at once: it is
	// the same router restarted, and the old process is gone.
	Holder string
	TTL    time.Duration
	// Log receives what Keep does about failed renewals (nil: nothing).
	Log *slog.Logger
}

func owner(holder string) string {
	o, _, _ := strings.Cut(holder, "/")
	return o
}

// TryAcquire takes the lease if it is free (or held by this owner's
// previous process). It returns nil, nil when someone else holds it.
func TryAcquire(ctx context.Context, kv jetstream.KeyValue, o Options) (*Lease, error) {
	l := &Lease{log: o.Log, kv: kv, key: o.Key, holder: o.Holder, ttl: o.TTL, every: max(o.TTL/3, 100*time.Millisecond)}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	rev, err := kv.Create(ctx, o.Key, []byte(o.Holder))
	if err == nil {
		l.rev = rev
		return l, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return nil, fmt.Errorf("lease %s: %w", o.Key, err)
	}
	e, err := kv.Get(ctx, o.Key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, nil // expired meanwhile: the next try creates it
	}
	if err != nil {
		return nil, fmt.Errorf("lease %s: %w", o.Key, err)
	}
	if owner(string(e.Value())) != owner(o.Holder) {
		return nil, nil
	}
	if l.rev, err = kv.Update(ctx, o.Key, []byte(o.Holder), e.Revision()); err != nil {
		return nil, nil // someone else got there first
	}
	return l, nil
}

// Acquire waits until the lease is this holder's, or ctx ends.
func Acquire(ctx context.Context, kv jetstream.KeyValue, o Options) (*Lease, error) {
	every := max(o.TTL/3, 100*time.Millisecond)
	for {
		l, err := TryAcquire(ctx, kv, o)
		if l != nil || (err != nil && ctx.Err() != nil) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(every):
		}
	}
}

// Keep renews the lease until ctx ends, then releases it so a standby takes
// over at once, and returns nil. It returns ErrLost only when another
// holder has the key. While renewals fail (NATS away) it keeps trying;
// when they go through again it finds out what happened meanwhile:
//   - the key expired and nobody took it: it is created again (the lease is
//     re-acquired, as if never lost);
//   - the key holds this holder at a later revision (a renewal was applied
//     but its answer was lost): that revision is adopted;
//   - another holder has it: ErrLost.
func (l *Lease) Keep(ctx context.Context) error {
	t := time.NewTicker(l.every)
	defer t.Stop()
	lastOK, warned := time.Now(), false
	for {
		select {
		case <-ctx.Done():
			l.release()
			return nil
		case <-t.C:
		}
		rctx, cancel := context.WithTimeout(ctx, l.every)
		rev, err := l.kv.Update(rctx, l.key, []byte(l.holder), l.rev)
		if err != nil && isWrongRevision(err) {
			rev, err = l.recover(rctx, true)
		}
		cancel()
		switch {
		case err == nil:
			if warned {
				l.log.Info("lease renewed again", "lease", l.key, "unrenewed_for", time.Since(lastOK).Round(time.Millisecond).String())
			}
			l.rev, lastOK, warned = rev, time.Now(), false
		case errors.Is(err, ErrLost):
			return err
		case !warned && ctx.Err() == nil && time.Since(lastOK) >= l.ttl:
			warned = true
			l.log.Warn("lease not renewed for its TTL: it is re-acquired when NATS answers, unless another holder took it",
				"lease", l.key, "unrenewed_for", time.Since(lastOK).Round(time.Millisecond).String(), "err", err)
		}
	}
}

// recover finds out why a renewal at l.rev was refused; retry allows one
// more look when the key reappeared between the two calls.
func (l *Lease) recover(ctx context.Context, retry bool) (uint64, error) {
	e, err := l.kv.Get(ctx, l.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		// Expired (the bucket's TTL) and free: take it again.
		rev, err := l.kv.Create(ctx, l.key, []byte(l.holder))
		if errors.Is(err, jetstream.ErrKeyExists) && retry {
			return l.recover(ctx, false) // someone was faster: whose is it?
		}
		if err == nil {
			l.log.Warn("lease had expired while nobody held it: re-acquired", "lease", l.key)
		}
		return rev, err
	case err != nil:
		return 0, err
	case string(e.Value()) == l.holder:
		return e.Revision(), nil
	}
	return 0, fmt.Errorf("%w: %s is held by %q now", ErrLost, l.key, e.Value())
}

func isWrongRevision(err error) bool {
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && (apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant) {
		return true
	}
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted)
}

func (l *Lease) release() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = l.kv.Delete(ctx, l.key, jetstream.LastRevision(l.rev))
}

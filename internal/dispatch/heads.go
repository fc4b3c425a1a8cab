package dispatch

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
)

// A start must not take longer with more alerts stored: 57 000 unresolved
// alerts are 170 MB of JSON, most of it text and evidence that only a
// notification needs. So every alert record carries its head in a header
// (HeadHeader): what the lifecycle decides with (ids, state, labels,
// receivers, times, update number, news), a few hundred bytes. A start
// reads the heads alone (a headers-only read of the bucket) and the
// notifier reads a body (KVStore.Bodies) when a message is about to carry
// the alert, or the sweep to resolve it (lazy.go).

// HeadHeader holds an alert record's head.
const HeadHeader = "Aftershock-Head"

// markerAge is how old a delete marker must be to be purged at start (as
// nats.go's PurgeDeletes: a watcher may still want to see a recent one).
// A variable for the tests.
var markerAge = 30 * time.Minute

// headOf is rec with its alert reduced to what the lifecycle reads.
func headOf(rec *AlertRecord) ([]byte, error) {
	a := rec.Alert
	h := &alert.Alert{
		ID: a.ID, Fingerprint: a.Fingerprint, Rule: a.Rule, Severity: a.Severity, State: a.State, Labels: a.Labels,
		GroupKey: a.GroupKey, Receivers: a.Receivers, WindowStart: a.WindowStart, StartsAt: a.StartsAt, EndsAt: a.EndsAt,
		Drill: a.Drill, Update: a.Update, CreatedAt: a.CreatedAt,
	}
	return encode(&AlertRecord{Alert: h, Updated: rec.Updated, News: rec.News})
}

// decodeHead reads a head with the checks decodeAlertRecord makes.
func decodeHead(key string, b []byte) (*AlertRecord, error) {
	r, err := decodeAlertRecord(key, b)
	if err != nil {
		return nil, fmt.Errorf("head: %w", err)
	}
	r.Head = true
	return r, nil
}

// scanned is what a headers-only read of the bucket found.
type scanned struct {
	heads   []*AlertRecord
	whole   []string // alert keys without a head the router wrote (older records)
	logs    int      // notification logs
	markers []string // subjects of delete markers old enough to purge
	parts   []string // keys of notification logs' parts
	bad     []error
}

// scan reads the last revision of every key, headers only.
func (s *KVStore) scan(ctx context.Context) (*scanned, error) {
	oc, err := s.js.OrderedConsumer(ctx, s.stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{s.prefix + ">"}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy, HeadersOnly: true,
	})
	if err != nil {
		return nil, err
	}
	out := &scanned{}
	info, err := oc.Info(ctx)
	if err != nil {
		return nil, err
	}
	if info.NumPending == 0 {
		return out, nil
	}
	it, err := oc.Messages(jetstream.PullMaxMessages(4096))
	if err != nil {
		return nil, err
	}
	defer it.Stop()
	now := time.Now()
	for {
		msg, err := it.Next(jetstream.NextContext(ctx))
		if err != nil {
			return nil, err
		}
		md, err := msg.Metadata()
		if err != nil {
			return nil, err
		}
		s.scanOne(out, msg, md, now)
		if md.NumPending == 0 {
			return out, nil
		}
	}
}

func (s *KVStore) scanOne(out *scanned, msg jetstream.Msg, md *jetstream.MsgMetadata, now time.Time) {
	key := strings.TrimPrefix(msg.Subject(), s.prefix)
	h := msg.Headers()
	if op := h.Get("KV-Operation"); op == "DEL" || op == "PURGE" {
		if now.Sub(md.Timestamp) > markerAge {
			out.markers = append(out.markers, msg.Subject())
		}
		return
	}
	switch {
	case strings.HasPrefix(key, keyAlert):
		head := h.Get(HeadHeader)
		if head == "" {
			out.whole = append(out.whole, key)
			return
		}
		r, err := decodeHead(key, []byte(head))
		if err != nil {
			// Not a head the router wrote: the record, read whole, says
			// whether it is the router's.
			out.whole = append(out.whole, key)
			return
		}
		out.heads = append(out.heads, r)
	case strings.HasPrefix(key, keyLog):
		out.logs++
	case strings.HasPrefix(key, keyHistory):
		// LoadHistories reads them.
	case strings.HasPrefix(key, keyLogPart):
		out.parts = append(out.parts, key)
	default:
		out.bad = append(out.bad, fmt.Errorf("key %s: not a key the router writes", key))
	}
}

// purgeMarkers removes the delete markers found by a scan.
func (s *KVStore) purgeMarkers(subjects []string) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	go func() {
		select {
		case <-s.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	st, err := s.js.Stream(ctx, s.stream)
	if err != nil {
		return
	}
	for _, subj := range subjects {
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(subj)); err != nil {
			return // the next start tries again
		}
	}
}

// Bodies implements BodyStore: the whole records of the alerts fps, read
// a few at a time. A record that could not be read is in failed with why:
// errors.Is(err, ErrNoBody) when it is gone or not the router's (asking
// again will not help).
func (s *KVStore) Bodies(ctx context.Context, fps []string) (recs map[string]*AlertRecord, failed map[string]error) {
	recs, failed = make(map[string]*AlertRecord, len(fps)), map[string]error{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan string)
	for range min(len(fps), 16) {
		wg.Go(func() {
			for fp := range next {
				r, err := s.body(ctx, fp)
				mu.Lock()
				if err != nil {
					failed[fp] = err
				} else {
					recs[fp] = r
				}
				mu.Unlock()
			}
		})
	}
	for _, fp := range fps {
		next <- fp
	}
	close(next)
	wg.Wait()
	return recs, failed
}

// ErrNoBody means an alert's record is gone, or is not one the router
// wrote.
var ErrNoBody = errors.New("alert record gone or not the router's")

func (s *KVStore) body(ctx context.Context, fp string) (*AlertRecord, error) {
	key := keyAlert + fp
	e, err := s.kv.Get(ctx, key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		return nil, fmt.Errorf("key %s: %w", key, ErrNoBody)
	case err != nil:
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	r, err := decodeAlertRecord(key, e.Value())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoBody, err)
	}
	return r, nil
}

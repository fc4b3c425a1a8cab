package dispatch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Key prefixes in the ALERT_STATE bucket.
const (
	keyAlert = "alert."
	keyLog   = "nflog."
)

// KVStore keeps the lifecycle state in a JetStream KV bucket (ALERT_STATE):
// alert.<fingerprint> and nflog.<group id>, JSON. Writes are asynchronous
// publishes on the bucket's subjects, issued in order by one writer
// goroutine: the lifecycle loop never waits for the server, so a slow
// store delays acks (and, through MaxAckPending, consumption), never a
// notification. The writer takes every write queued when it wakes (up to
// maxBatch) and publishes them back to back: one wake-up per burst, not
// per write.
type KVStore struct {
	js     jetstream.JetStream
	kv     jetstream.KeyValue
	prefix string
	stream string

	writes  chan *write
	pending chan *write
	quit    chan struct{}
	wg      sync.WaitGroup
	once    sync.Once

	mu       sync.Mutex
	rejected []error
	// parts: how many parts each notification log written in parts has
	// (logparts.go); maxPart, when set, is the part size (tests).
	parts   map[string]int
	maxPart int
}

// write is one queued write; done receives its result once. A put is
// encoded by the writer (v, to key), not by the lifecycle loop that issued
// it: encoding was half of the loop's work under load. What v refers to
// must not change once handed over (the loop only ever replaces records).
type write struct {
	m   *nats.Msg
	key string
	v   any
	// before and after are written with m, in order: a notification
	// log's parts before its head, purges of parts it no longer has after
	// (logparts.go); dropLog names the group whose log m deletes.
	before, after []*nats.Msg
	dropLog       string
	futs          []jetstream.PubAckFuture
	f             jetstream.PubAckFuture
	err           error
	done          chan error
}

// Wait implements Pending.
func (w *write) Wait(ctx context.Context) error {
	select {
	case err := <-w.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ Store = (*KVStore)(nil)

// NewKVStore opens bucket (provisioned by internal/bus).
func NewKVStore(ctx context.Context, js jetstream.JetStream, bucket string) (*KVStore, error) {
	kv, err := js.KeyValue(ctx, bucket)
	if err != nil {
		return nil, fmt.Errorf("open bucket %s: %w", bucket, err)
	}
	s := &KVStore{js: js, kv: kv, prefix: "$KV." + bucket + ".", stream: "KV_" + bucket,
		writes: make(chan *write, 1<<16), pending: make(chan *write, 1<<16), quit: make(chan struct{}), parts: map[string]int{}}
	s.wg.Go(s.writer)
	s.wg.Go(s.completer)
	return s, nil
}

// Close stops the writer; writes not yet acknowledged report an error.
func (s *KVStore) Close() {
	s.once.Do(func() { close(s.quit) })
	s.wg.Wait()
}

var errClosed = errors.New("alert state store closed")

// maxBatch bounds the writes the writer takes per wake-up.
const maxBatch = 256

func (s *KVStore) writer() {
	batch := make([]*write, 0, maxBatch)
	for {
		select {
		case w := <-s.writes:
			batch = append(batch[:0], w)
		case <-s.quit:
			return
		}
	more:
		for len(batch) < maxBatch {
			select {
			case w := <-s.writes:
				batch = append(batch, w)
			default:
				break more
			}
		}
		for i, w := range batch {
			if w.m == nil {
				w.m, w.err = s.encodeMsg(w.key, w.v)
				if rec, ok := w.v.(*LogRecord); ok && w.err == nil {
					w.err = s.splitLog(w, rec)
				}
			} else if w.dropLog != "" {
				s.dropParts(w, w.dropLog, 0)
			}
			if w.err == nil {
				w.err = s.send(w)
			}
			select {
			case s.pending <- w:
			case <-s.quit:
				for _, w := range batch[i:] {
					w.done <- errClosed
				}
				return
			}
		}
	}
}

// send publishes w's messages in order.
func (s *KVStore) send(w *write) error {
	for _, m := range w.before {
		f, err := s.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("write %s: %w", m.Subject, err)
		}
		w.futs = append(w.futs, f)
	}
	f, err := s.js.PublishMsgAsync(w.m)
	if err != nil {
		return fmt.Errorf("write %s: %w", w.m.Subject, err)
	}
	w.f = f
	for _, m := range w.after {
		f, err := s.js.PublishMsgAsync(m)
		if err != nil {
			return fmt.Errorf("write %s: %w", m.Subject, err)
		}
		w.futs = append(w.futs, f)
	}
	return nil
}

func (s *KVStore) completer() {
	for {
		select {
		case w := <-s.pending:
			if w.err != nil {
				w.done <- w.err
				continue
			}
			closed, err := s.await(w)
			w.done <- err
			if closed {
				return
			}
		case <-s.quit:
			return
		}
	}
}

// await waits for w's acks: the first error, or errClosed (closed true)
// when the store closes meanwhile.
func (s *KVStore) await(w *write) (closed bool, err error) {
	for _, f := range append(w.futs, w.f) {
		select {
		case <-f.Ok():
		case e := <-f.Err():
			if err == nil {
				err = fmt.Errorf("write %s: %w", f.Msg().Subject, e)
			}
		case <-s.quit:
			return true, errClosed
		}
	}
	return false, err
}

// Load implements Store. Alerts come as their heads (see heads.go): what
// the lifecycle needs of them, read from the records' headers; their
// bodies are read when a notification needs them (Bodies). A record the
// router did not write (not a record, or one whose key does not match its
// content: say a JetStream ack stored there by a reply subject) is
// skipped, logged by the caller through Rejected, and never fatal: one
// stray entry must not keep the notifier from starting.
func (s *KVStore) Load(ctx context.Context) ([]*AlertRecord, []*LogRecord, error) {
	sc, err := s.scan(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("read alert state: %w", err)
	}
	bad := sc.bad
	as := sc.heads
	// Records from before heads were written are read whole.
	for _, key := range sc.whole {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read alert state %s: %w", key, err)
		}
		r, err := decodeAlertRecord(key, e.Value())
		if err != nil {
			bad = append(bad, err)
			continue
		}
		as = append(as, r)
	}
	var ls []*LogRecord
	if sc.logs > 0 {
		if ls, err = s.loadLogs(ctx, &bad); err != nil {
			return nil, nil, err
		}
	}
	if err := s.purgeOrphanParts(ctx, sc.parts); err != nil {
		return nil, nil, err
	}
	s.mu.Lock()
	s.rejected = append(s.rejected, bad...)
	s.mu.Unlock()
	// Forget the markers of deleted keys: they are the only thing the
	// bucket would otherwise accumulate. Nothing waits for it.
	if len(sc.markers) > 0 {
		s.wg.Go(func() { s.purgeMarkers(sc.markers) })
	}
	return as, ls, nil
}

func (s *KVStore) loadLogs(ctx context.Context, bad *[]error) ([]*LogRecord, error) {
	w, err := s.kv.Watch(ctx, keyLog+">", jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("read notification logs: %w", err)
	}
	defer stopWatch(w)
	var ls []*LogRecord
	for {
		var e jetstream.KeyValueEntry
		select {
		case e = <-w.Updates():
		case <-ctx.Done():
			return nil, fmt.Errorf("read notification logs: %w", ctx.Err())
		}
		if e == nil {
			return ls, nil
		}
		r, err := decodeLogRecord(e.Key(), e.Value())
		if err == nil && r.Parts != nil {
			r, err = s.joinParts(ctx, r)
		}
		if err != nil {
			*bad = append(*bad, err)
			continue
		}
		ls = append(ls, r)
	}
}

// Rejected returns, once, why each record skipped by Load and
// LoadHistories was skipped.
func (s *KVStore) Rejected() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rejected
	s.rejected = nil
	return r
}

// PutAlert implements Store. The writer adds the record's head in a
// header (heads.go), so a start reads heads without the bodies.
func (s *KVStore) PutAlert(rec *AlertRecord) Pending {
	return s.put(keyAlert+rec.Alert.Fingerprint, rec)
}

// DeleteAlert implements Store.
func (s *KVStore) DeleteAlert(fp string) Pending { return s.purge(keyAlert + fp) }

// PutLog implements Store.
func (s *KVStore) PutLog(rec *LogRecord) Pending { return s.put(keyLog+rec.GroupID, rec) }

// DeleteLog implements Store; the log's parts go with it.
func (s *KVStore) DeleteLog(id string) Pending {
	return s.queue(&write{m: purgeMsg(s.prefix + keyLog + id), dropLog: id, done: make(chan error, 1)})
}

func (s *KVStore) put(key string, v any) Pending {
	return s.queue(&write{key: key, v: v, done: make(chan error, 1)})
}

// encodeMsg is the message that writes v at key: v's JSON, and an alert
// record's head in HeadHeader.
func (s *KVStore) encodeMsg(key string, v any) (*nats.Msg, error) {
	m := &nats.Msg{Subject: s.prefix + key}
	b, err := encode(v)
	if err != nil {
		return m, fmt.Errorf("encode %s: %w", key, err)
	}
	m.Data = b
	if r, ok := v.(*AlertRecord); ok {
		head, err := headOf(r)
		if err != nil {
			return m, fmt.Errorf("encode %s: %w", key, err)
		}
		m.Header = nats.Header{HeadHeader: []string{string(head)}}
	}
	return m, nil
}

// encode is v's JSON; an alert record keeps the alert as read from ALERTS
// when it has it (else alert.Encode writes it, without reflection), with
// the same fields json.Marshal writes around it; a notification log is
// written by appendLog.
func encode(v any) ([]byte, error) {
	if l, ok := v.(*LogRecord); ok {
		if b, ok := appendLog(make([]byte, 0, 256+128*len(l.Firing)), l); ok {
			return b, nil
		}
		return json.Marshal(v)
	}
	r, ok := v.(*AlertRecord)
	if !ok || r.Alert == nil && r.raw == nil {
		return json.Marshal(v)
	}
	updated, err := r.Updated.MarshalJSON()
	if err != nil {
		return nil, err
	}
	// A head (no raw bytes) is a few hundred bytes.
	b := make([]byte, 0, max(len(r.raw), 448)+len(updated)+32)
	b = append(b, `{"alert":`...)
	if r.raw != nil {
		b = append(b, r.raw...)
	} else if b, err = r.Alert.AppendJSON(b); err != nil {
		return nil, err
	}
	b = append(b, `,"updated":`...)
	b = append(b, updated...)
	if len(r.News) > 0 {
		news, err := json.Marshal(r.News)
		if err != nil {
			return nil, err
		}
		b = append(b, `,"news":`...)
		b = append(b, news...)
	}
	return append(b, '}'), nil
}

// purge removes every revision of key, leaving one marker (PurgeDeletes
// at the next start drops it).
func (s *KVStore) purge(key string) Pending { return s.publish(purgeMsg(s.prefix + key)) }

// purgeMsg removes every revision of subject's key, leaving one marker.
func purgeMsg(subject string) *nats.Msg {
	m := nats.NewMsg(subject)
	m.Header.Set("KV-Operation", "PURGE")
	m.Header.Set(jetstream.MsgRollup, jetstream.MsgRollupSubject)
	return m
}

func (s *KVStore) publish(m *nats.Msg) Pending {
	return s.queue(&write{m: m, done: make(chan error, 1)})
}

func (s *KVStore) queue(w *write) Pending {
	select {
	case s.writes <- w:
		return w
	case <-s.quit:
		return Failed{errClosed}
	}
}

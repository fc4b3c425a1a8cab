package lane

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/rule"
)

// A lane keeps a snapshot of its windows (correlate.Snapshot) in the
// WINDOWS object store, under its consumer's name, every SnapshotEvery
// and when it is released. A start (or a take-over) restores the latest
// one and replays only the events stored after it, instead of every
// rule's horizon: seconds of events rather than days.
//
// A snapshot at stream sequence S is saved only once the consumer's ack
// floor has reached S: every event up to S is acked, so the alerts it
// raised are stored (the lane acks an event only then). Restoring it and
// replaying the events after S (silently up to the ack floor, for real
// after) is therefore what a full rebuild does, without the reading.

// DefaultSnapshotEvery is Config.SnapshotEvery's default.
const DefaultSnapshotEvery = 10 * time.Second

// Metadata keys of a snapshot object.
const (
	metaStream  = "stream"
	metaCreated = "stream-created"
	metaSeq     = "seq"
	metaTaken   = "taken"
	metaRules   = "rules-version"
)

// snapshotLoop saves a snapshot every SnapshotEvery until ctx ends.
func (l *Lane) snapshotLoop(ctx context.Context) {
	t := time.NewTicker(l.cfg.SnapshotEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := l.saveSnapshot(ctx, l.cfg.AckWait); err != nil && ctx.Err() == nil {
			l.log.Warn("window snapshot not saved", "err", err)
		}
	}
}

var errNotAcked = errors.New("events of the snapshot not all acked yet")

// saveSnapshot takes a snapshot and stores it once every event it holds is
// acked, waiting at most ackWait for that. It does nothing when the
// engine holds nothing new since the last one.
func (l *Lane) saveSnapshot(ctx context.Context, ackWait time.Duration) error {
	if l.cfg.Snapshots == nil {
		return nil
	}
	l.mu.Lock()
	e, seq, created := l.engine.Load(), l.lastSeq, l.created
	if e == nil || seq == 0 || seq == l.savedSeq {
		l.mu.Unlock()
		return nil
	}
	// Nothing evaluated since the rebuild, which stored every alert it
	// raised: no ack to wait for (the acks of events it evaluated for a
	// predecessor come only with their redelivery, AckWait away).
	stored := seq <= l.rebuiltSeq
	snap := e.Snapshot()
	l.mu.Unlock()
	taken := time.Now()
	if !stored {
		if err := l.waitAcked(ctx, seq, ackWait); err != nil {
			l.countSnapshot("unacked")
			return err
		}
	}
	var buf bytes.Buffer
	if err := snap.Encode(&buf); err != nil {
		l.countSnapshot("failed")
		return err
	}
	size := buf.Len()
	meta := jetstream.ObjectMeta{Name: l.cfg.Durable, Description: "window state of lane " + l.cfg.Durable, Metadata: map[string]string{
		metaStream: l.cfg.Source.Stream, metaCreated: created.UTC().Format(time.RFC3339Nano),
		metaSeq: strconv.FormatUint(seq, 10), metaTaken: taken.UTC().Format(time.RFC3339Nano), metaRules: snap.Version(),
	}}
	if _, err := l.cfg.Snapshots.Put(ctx, meta, &buf); err != nil {
		l.countSnapshot("failed")
		return fmt.Errorf("store snapshot %s: %w", l.cfg.Durable, err)
	}
	l.mu.Lock()
	l.savedSeq = max(l.savedSeq, seq)
	l.mu.Unlock()
	l.countSnapshot("saved")
	if g := l.cfg.Metrics.SnapshotBytes; g != nil {
		g.Set(float64(size))
	}
	l.log.Debug("window snapshot saved", "seq", seq, "records", snap.Records(), "took", time.Since(taken).String())
	return nil
}

// waitAcked waits until the consumer's ack floor reaches seq.
func (l *Lane) waitAcked(ctx context.Context, seq uint64, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	cons, err := l.cfg.JS.Consumer(ctx, l.cfg.Source.Stream, l.cfg.Durable)
	if err != nil {
		return fmt.Errorf("consumer %s: %w", l.cfg.Durable, err)
	}
	for {
		info, err := cons.Info(ctx)
		if err == nil && info.AckFloor.Stream >= seq {
			return nil
		}
		select {
		case <-ctx.Done():
			return errNotAcked
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// restoreSnapshot returns an engine restored from the lane's snapshot and
// the stream sequence it holds events through, or nil when there is none
// to use (then the caller replays in full). delivered is how far the
// consumer has delivered now; st the source stream's info.
func (l *Lane) restoreSnapshot(ctx context.Context, set *rule.Set, now time.Time, delivered uint64, st *jetstream.StreamInfo) (*correlate.Engine, uint64) {
	if l.cfg.Snapshots == nil {
		return nil, 0
	}
	// Metadata and windows are read as one object: another router may save
	// the lane's snapshot meanwhile (the previous owner at its release, or
	// one whose windows are older), and the windows of one under the
	// sequence of the other would replay from the wrong place.
	res, err := l.cfg.Snapshots.Get(ctx, l.cfg.Durable)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return nil, 0
	}
	var info *jetstream.ObjectInfo
	if err == nil {
		defer res.Close()
		info, err = res.Info()
	}
	if err == nil {
		err = usable(info.Metadata, l.cfg.Source.Stream, longestHorizon(set, l.cfg.LatestHorizon), now, delivered, st)
	}
	var seq uint64
	var e *correlate.Engine
	if err == nil {
		seq, _ = strconv.ParseUint(info.Metadata[metaSeq], 10, 64)
		e, err = l.readSnapshot(res, set)
	}
	if err != nil {
		l.countSnapshot("refused")
		l.log.Warn("window snapshot not used; replaying the stream instead", "snapshot", l.cfg.Durable, "reason", err)
		return nil, 0
	}
	l.countSnapshot("restored")
	return e, seq
}

// readSnapshot restores an engine from the snapshot res reads. All of it
// is read first: the object store checks the digest at the end (a save
// meanwhile removes the chunks being read).
func (l *Lane) readSnapshot(res io.Reader, set *rule.Set) (*correlate.Engine, error) {
	b, err := io.ReadAll(res)
	if err != nil {
		return nil, fmt.Errorf("read: %w", err)
	}
	snap, err := correlate.DecodeSnapshot(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return correlate.Restore(set, l.log.With("component", "engine"), correlate.Options{}, snap)
}

// usable says why a snapshot with metadata md cannot stand for the
// stream's events through its sequence, if it cannot. A snapshot may hold
// events the consumer delivered but has not acked: a rebuild evaluated
// them for a predecessor and stored their alerts (saveSnapshot); never
// events it has not delivered (it would deliver them again).
func usable(md map[string]string, stream string, horizon time.Duration, now time.Time, delivered uint64, st *jetstream.StreamInfo) error {
	seq, err := strconv.ParseUint(md[metaSeq], 10, 64)
	if err != nil {
		return fmt.Errorf("sequence %q: %w", md[metaSeq], err)
	}
	taken, err := time.Parse(time.RFC3339Nano, md[metaTaken])
	if err != nil {
		return fmt.Errorf("time taken %q: %w", md[metaTaken], err)
	}
	created, err := time.Parse(time.RFC3339Nano, md[metaCreated])
	switch {
	case md[metaStream] != stream:
		return fmt.Errorf("taken of stream %q, not %s", md[metaStream], stream)
	case err != nil || !created.Equal(st.Created):
		return fmt.Errorf("taken of an earlier %s (created %s, now %s)", stream, md[metaCreated], st.Created.UTC().Format(time.RFC3339Nano))
	case seq > delivered:
		return fmt.Errorf("holds events through %d, the consumer delivered only through %d (consumer recreated?)", seq, delivered)
	case st.State.FirstSeq > seq+1:
		return fmt.Errorf("events after it (from %d) are no longer stored (first %d)", seq+1, st.State.FirstSeq)
	case now.Sub(taken) > horizon:
		return fmt.Errorf("taken %s ago, longer than the longest window: a replay reads less", now.Sub(taken).Round(time.Second))
	}
	return nil
}

// longestHorizon is how far back a full rebuild of set reads.
func longestHorizon(set *rule.Set, latest time.Duration) time.Duration {
	var h time.Duration
	for _, c := range set.Rules {
		h = max(h, c.Horizon())
		if len(c.LatestTypes) > 0 {
			h = max(h, latest)
		}
	}
	return h + rebuildSlack
}

func (l *Lane) countSnapshot(outcome string) {
	if c := l.cfg.Metrics.Snapshots; c != nil {
		c.WithLabelValues(outcome).Inc()
	}
}

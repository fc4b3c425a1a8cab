package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names of the streams and buckets the router provisions.
const (
	StreamEvents  = "EVENTS"
	StreamAlerts  = "ALERTS"
	StreamDLQ     = "DLQ"
	BucketSilence = "SILENCES"
	BucketState   = "ALERT_STATE"
	// BucketWindows is the object store of the rule engines' window
	// state: one snapshot per lane, named for its consumer, so a restart
	// replays only the events after it.
	BucketWindows = "WINDOWS"

	SubjectDLQEvents = "dlq.events"
)

// Topology is the desired JetStream layout. Zero values take defaults in
// DefaultTopology, the single place they are set.
type Topology struct {
	Replicas       int
	EventsMaxAge   time.Duration
	EventsMaxBytes int64
	DupeWindow     time.Duration
	AlertsMaxAge   time.Duration
	DLQMaxAge      time.Duration
	// Partitions, when not 0, adds StreamPartitioned (events split that
	// many ways by cluster) and the ROUTERS bucket whose keys live
	// MemberTTL: see partition.go.
	Partitions int
	MemberTTL  time.Duration
}

// DefaultTopology is design.md's layout for one server.
func DefaultTopology() Topology {
	return Topology{
		Replicas:       1,
		EventsMaxAge:   7 * 24 * time.Hour,
		EventsMaxBytes: -1,
		DupeWindow:     10 * time.Minute,
		AlertsMaxAge:   30 * 24 * time.Hour,
		DLQMaxAge:      30 * 24 * time.Hour,
		MemberTTL:      15 * time.Second,
	}
}

// Streams returns the stream configs of t.
func (t Topology) Streams() []jetstream.StreamConfig {
	streams := []jetstream.StreamConfig{
		{
			Name:        StreamEvents,
			Description: "aftershock events from collectors, ingest and drills",
			Subjects:    []string{"events.>", "drill.events.>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      t.EventsMaxAge,
			MaxBytes:    t.EventsMaxBytes,
			MaxMsgs:     -1,
			Duplicates:  t.DupeWindow,
			Replicas:    t.Replicas,
			MaxMsgSize:  128 << 10, // events are ≤ 64 KiB; headroom for headers
			Discard:     jetstream.DiscardOld,
			// Ingest stores a batch of events all or nothing.
			AllowAtomicPublish: true,
			// Operators read with direct gets (`nats sub --stream S
			// --direct`): their NATS account may not create consumers.
			AllowDirect: true,
		},
		{
			Name:        StreamAlerts,
			Description: "aftershock alerts: notification outbox and audit trail",
			Subjects:    []string{"alerts.>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      t.AlertsMaxAge,
			MaxBytes:    -1,
			MaxMsgs:     -1,
			MaxMsgSize:  -1,
			Duplicates:  t.DupeWindow,
			Replicas:    t.Replicas,
			Discard:     jetstream.DiscardOld,
			AllowDirect: true,
		},
		{
			Name:        StreamDLQ,
			Description: "aftershock dead letters: bad events and undeliverable notifications, with reasons",
			Subjects:    []string{"dlq.>"},
			Retention:   jetstream.LimitsPolicy,
			Storage:     jetstream.FileStorage,
			MaxAge:      t.DLQMaxAge,
			MaxBytes:    -1,
			MaxMsgs:     -1,
			MaxMsgSize:  -1,
			Duplicates:  t.DupeWindow,
			Replicas:    t.Replicas,
			Discard:     jetstream.DiscardOld,
			AllowDirect: true,
		},
	}
	if t.Partitions > 0 {
		streams = append(streams, t.partitionedStream())
	}
	return streams
}

// Buckets returns the KV bucket configs of t.
func (t Topology) Buckets() []jetstream.KeyValueConfig {
	buckets := []jetstream.KeyValueConfig{
		{Bucket: BucketSilence, Description: "aftershock silences (JSON, see docs/silences.md)", History: 5, Storage: jetstream.FileStorage, Replicas: t.Replicas},
		{Bucket: BucketState, Description: "aftershock alert lifecycle and delivery state", History: 1, Storage: jetstream.FileStorage, Replicas: t.Replicas},
		t.routersBucket(), // router membership and the notifier lease
	}
	return buckets
}

// ObjectStores returns the object store configs of t.
func (t Topology) ObjectStores() []jetstream.ObjectStoreConfig {
	return []jetstream.ObjectStoreConfig{
		{Bucket: BucketWindows, Description: "aftershock window state snapshots, one per lane (see docs/deploy.md)", Storage: jetstream.FileStorage, Replicas: t.Replicas},
	}
}

// Action says what provisioning did to one stream or bucket.
type Action string

// Provisioning outcomes.
const (
	Created   Action = "created"
	Updated   Action = "updated"
	Unchanged Action = "unchanged"
)

// Provisioned maps stream and bucket names to what was done.
type Provisioned map[string]Action

// Provision creates or updates every stream and bucket of t. It changes
// nothing when the server already matches, so every router may run it at start.
func Provision(ctx context.Context, js jetstream.JetStream, t Topology) (Provisioned, error) {
	if ctx.Err() == nil {
		if _, ok := ctx.Deadline(); !ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
		}
	}
	done := Provisioned{}
	for _, cfg := range t.Streams() {
		act, err := ensureStream(ctx, js, cfg)
		if err != nil {
			return done, fmt.Errorf("provision stream %s: %w", cfg.Name, err)
		}
		done[cfg.Name] = act
	}
	for _, cfg := range t.Buckets() {
		act, err := ensureBucket(ctx, js, cfg)
		if err != nil {
			return done, fmt.Errorf("provision bucket %s: %w", cfg.Bucket, err)
		}
		done["KV_"+cfg.Bucket] = act
	}
	for _, cfg := range t.ObjectStores() {
		act, err := ensureObjectStore(ctx, js, cfg)
		if err != nil {
			return done, fmt.Errorf("provision object store %s: %w", cfg.Bucket, err)
		}
		done["OBJ_"+cfg.Bucket] = act
	}
	return done, nil
}

func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) (Action, error) {
	s, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if _, err := js.CreateStream(ctx, want); err != nil {
			return "", err
		}
		return Created, nil
	}
	if err != nil {
		return "", err
	}
	have := s.CachedInfo().Config
	if !partitioningMatches(have, want) {
		return "", fmt.Errorf("%w: %s is %q; remove it and its consumers first (docs/deploy.md)", ErrPartitionCount, want.Name, have.Description)
	}
	if streamMatches(have, want) {
		return Unchanged, nil
	}
	// Start from the server's config so fields we do not manage (set by an
	// operator with `nats stream edit`) survive.
	next := have
	next.Description, next.Subjects = want.Description, want.Subjects
	next.MaxAge, next.MaxBytes, next.MaxMsgs = want.MaxAge, want.MaxBytes, want.MaxMsgs
	next.Duplicates, next.Replicas, next.MaxMsgSize = want.Duplicates, want.Replicas, want.MaxMsgSize
	next.AllowAtomicPublish, next.AllowDirect = want.AllowAtomicPublish, want.AllowDirect
	if _, err := js.UpdateStream(ctx, next); err != nil {
		return "", err
	}
	return Updated, nil
}

func streamMatches(have, want jetstream.StreamConfig) bool {
	return have.Description == want.Description &&
		slices.Equal(have.Subjects, want.Subjects) &&
		have.MaxAge == want.MaxAge && have.MaxBytes == want.MaxBytes && have.MaxMsgs == want.MaxMsgs &&
		have.Duplicates == want.Duplicates && have.Replicas == want.Replicas &&
		have.MaxMsgSize == want.MaxMsgSize && have.AllowAtomicPublish == want.AllowAtomicPublish &&
		have.AllowDirect == want.AllowDirect
}

func ensureBucket(ctx context.Context, js jetstream.JetStream, want jetstream.KeyValueConfig) (Action, error) {
	kv, err := js.KeyValue(ctx, want.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		if _, err := js.CreateKeyValue(ctx, want); err != nil {
			return "", err
		}
		return Created, nil
	}
	if err != nil {
		return "", err
	}
	st, err := kv.Status(ctx)
	if err != nil {
		return "", err
	}
	if bs, ok := st.(*jetstream.KeyValueBucketStatus); ok {
		cfg := bs.StreamInfo().Config
		if int(st.History()) == int(want.History) && st.TTL() == want.TTL &&
			cfg.Replicas == max(want.Replicas, 1) && cfg.Description == want.Description {
			return Unchanged, nil
		}
	}
	if _, err := js.UpdateKeyValue(ctx, want); err != nil {
		return "", err
	}
	return Updated, nil
}

func ensureObjectStore(ctx context.Context, js jetstream.JetStream, want jetstream.ObjectStoreConfig) (Action, error) {
	obs, err := js.ObjectStore(ctx, want.Bucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		if _, err := js.CreateObjectStore(ctx, want); err != nil {
			return "", err
		}
		return Created, nil
	}
	if err != nil {
		return "", err
	}
	st, err := obs.Status(ctx)
	if err != nil {
		return "", err
	}
	if st.Replicas() == max(want.Replicas, 1) && st.Description() == want.Description {
		return Unchanged, nil
	}
	if _, err := js.UpdateObjectStore(ctx, want); err != nil {
		return "", err
	}
	return Updated, nil
}

// AutoReplicas is the replica count for streams and buckets when none is
// configured: 3 when nc is connected to a NATS cluster (a cluster name in
// the server's INFO), so every stream survives the loss of one server, and 1
// on a single server. A cluster of fewer than 3 JetStream servers cannot
// place 3 replicas: set the count explicitly there (router --replicas).
func AutoReplicas(nc *nats.Conn) int {
	if nc.ConnectedClusterName() != "" {
		return 3
	}
	return 1
}

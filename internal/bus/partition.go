package bus

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/event"
)

// Partitioned routers (router --partitions N; docs/deploy.md "Several
// routers") read events from a stream that sources all of EVENTS and, on
// the way in, files each live event under its partition,
// part.<p>.events.<cluster>.<class>, where the server computes p from the
// cluster token (subject-mapping partition function). Drill events and
// malformed subjects are stored as they came. The subject a message was
// published on, and its EVENTS sequence, are in the header sourcing adds
// (Origin). Each partition has a durable consumer with the pinned-client
// priority policy, so one router at a time receives it; ROUTERS is the
// bucket of router heartbeats the routers divide the partitions by.
//
// Two choices are for speed with many nodes. The source is unfiltered and
// the transform is the stream's: a filtered source reads EVENTS through a
// multi-filter consumer, which nats-server serves by intersecting each
// block's subjects (every node's) with the filters for every message once
// it lags (measured: 3k events/s against 47k/s unfiltered). And the node
// is left out of the partitioned subject: a partition's consumer catching
// up looks its next message up among its subjects, so they should be few
// (clusters times classes, not nodes times classes).
const (
	StreamPartitioned = "EVENTS_PARTITIONED"
	BucketRouters     = "ROUTERS"
	// PartitionToken is the first token of partitioned subjects.
	PartitionToken = "part"
	// MaxPartitions bounds --partitions: each is a consumer on every
	// router's connection.
	MaxPartitions = 256
)

// PartitionSubjects is the subject filter of partition p's events:
// part.<p>.events.<cluster>.<class>.
func PartitionSubjects(p int) string {
	return PartitionToken + "." + strconv.Itoa(p) + "." + event.LivePrefix + ".*.*"
}

// partitionTransform maps well-formed live subjects to their partition.
// The cluster is the second token, so all of a cluster's events share one.
func partitionTransform(n int) *jetstream.SubjectTransformConfig {
	return &jetstream.SubjectTransformConfig{
		Source:      event.LivePrefix + ".*.*.*",
		Destination: fmt.Sprintf("%s.{{partition(%d,1)}}.%s.{{wildcard(1)}}.{{wildcard(3)}}", PartitionToken, n, event.LivePrefix),
	}
}

// partitionedStream is the config of StreamPartitioned for n partitions.
// It keeps what EVENTS keeps: a taking-over router rebuilds a partition's
// windows from it, filtered to that partition by the server.
func (t Topology) partitionedStream() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:             StreamPartitioned,
		Description:      fmt.Sprintf("aftershock events by partition (%d, by cluster) for partitioned routers; sourced from EVENTS", t.Partitions),
		Sources:          []*jetstream.StreamSource{{Name: StreamEvents}},
		SubjectTransform: partitionTransform(t.Partitions),
		Retention:        jetstream.LimitsPolicy,
		Storage:          jetstream.FileStorage,
		MaxAge:           t.EventsMaxAge,
		MaxBytes:         t.EventsMaxBytes,
		MaxMsgs:          -1,
		Duplicates:       t.DupeWindow,
		Replicas:         t.Replicas,
		MaxMsgSize:       -1, // sourcing adds a header to EVENTS' largest messages
		Discard:          jetstream.DiscardOld,
	}
}

// routersBucket holds one key per live partitioned router and the notifier
// lease; a key its router stops refreshing ages out after MemberTTL.
func (t Topology) routersBucket() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      BucketRouters,
		Description: "aftershock routers: one key per live partitioned router, and the notifier lease; refreshed by their holders",
		History:     1,
		TTL:         t.MemberTTL,
		Storage:     jetstream.FileStorage,
		Replicas:    t.Replicas,
	}
}

// ErrPartitionCount is returned when StreamPartitioned exists with another
// partition count than asked: changing it moves clusters between
// partitions, which needs the steps in docs/deploy.md.
var ErrPartitionCount = errors.New("partition count differs from the existing stream")

// partitioningMatches compares what decides partitioning: the sourced
// streams and the transform.
func partitioningMatches(have, want jetstream.StreamConfig) bool {
	sameTransform := (have.SubjectTransform == nil) == (want.SubjectTransform == nil) &&
		(want.SubjectTransform == nil || *have.SubjectTransform == *want.SubjectTransform)
	return sameTransform && slices.EqualFunc(have.Sources, want.Sources, func(a, b *jetstream.StreamSource) bool {
		return a != nil && b != nil && a.Name == b.Name && a.FilterSubject == b.FilterSubject && len(a.SubjectTransforms) == len(b.SubjectTransforms)
	})
}

// PartitionStart is where a new partition consumer starts: after everything
// StreamPartitioned holds once its sourcing has caught up with what EVENTS
// held when it was called. Those events were evaluated before partitioning
// was turned on (or there are none, on a fresh install); a taking-over
// router replays them into its windows without raising alerts again. If ctx
// ends first it starts after what is there, and caught is false.
func PartitionStart(ctx context.Context, js jetstream.JetStream) (start uint64, caught bool, err error) {
	ev, err := js.Stream(ctx, StreamEvents)
	if err != nil {
		return 0, false, fmt.Errorf("stream %s: %w", StreamEvents, err)
	}
	target := ev.CachedInfo().State
	for {
		st, err := js.Stream(ctx, StreamPartitioned)
		if err != nil {
			return 0, false, fmt.Errorf("stream %s: %w", StreamPartitioned, err)
		}
		have := st.CachedInfo().State
		if target.Msgs == 0 {
			return have.LastSeq + 1, true, nil
		}
		if have.Msgs > 0 {
			m, err := st.GetMsg(ctx, have.LastSeq)
			if err == nil {
				if seq, ok := SourceSeq(m.Header); ok && seq >= target.LastSeq {
					return have.LastSeq + 1, true, nil
				}
			}
		}
		select {
		case <-ctx.Done():
			return have.LastSeq + 1, false, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// streamSourceHeader is set by the server on sourced messages (nats.go has
// no constant for it): "EVENTS <seq> <filter> <dest> <subject>[ <id>]".
const streamSourceHeader = "Nats-Stream-Source"

// Origin is the EVENTS sequence of a message sourced into
// StreamPartitioned and the subject it was published on.
func Origin(h nats.Header) (seq uint64, subject string, ok bool) {
	f := strings.Fields(h.Get(streamSourceHeader))
	if len(f) < 5 || f[0] != StreamEvents {
		return 0, "", false
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	if err != nil {
		return 0, "", false
	}
	return seq, f[4], true
}

// SourceSeq is Origin's sequence.
func SourceSeq(h nats.Header) (uint64, bool) {
	seq, _, ok := Origin(h)
	return seq, ok
}

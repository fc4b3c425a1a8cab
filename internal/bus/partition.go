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
// routers") read events from a stream that sources EVENTS and prefixes each
// subject with its partition, part.<p>.<original subject>, where the server
// computes p from the cluster token (subject-mapping partition function).
// Each partition has a durable consumer with the pinned-client priority
// policy, so one router at a time receives it; ROUTERS is the bucket of
// router heartbeats the routers divide the partitions by.
const (
	StreamPartitioned = "EVENTS_PARTITIONED"
	BucketRouters     = "ROUTERS"
	// PartitionToken is the first token of partitioned subjects.
	PartitionToken = "part"
	// MaxPartitions bounds --partitions: each is a consumer on every
	// router's connection.
	MaxPartitions = 256
)

// PartitionPrefix is the subject prefix of partition p, with its trailing
// dot: "part.3.".
func PartitionPrefix(p int) string {
	return PartitionToken + "." + strconv.Itoa(p) + "."
}

// Unpartition splits a partitioned subject into its partition and the
// subject the event was published on.
func Unpartition(subject string) (p int, orig string, ok bool) {
	rest, found := strings.CutPrefix(subject, PartitionToken+".")
	if !found {
		return 0, "", false
	}
	num, orig, found := strings.Cut(rest, ".")
	if !found {
		return 0, "", false
	}
	p, err := strconv.Atoi(num)
	if err != nil || p < 0 {
		return 0, "", false
	}
	return p, orig, true
}

// partitionTransforms map every subject EVENTS stores to its partitioned
// form. The cluster is the second token under either prefix, so a cluster's
// live and drill events share a partition. A source's transforms must not
// overlap, hence one per subject length: malformed subjects (too short,
// too long) are partitioned too, so the router dead-letters them instead of
// their never arriving.
func partitionTransforms(n int) []jetstream.SubjectTransformConfig {
	var out []jetstream.SubjectTransformConfig
	for _, prefix := range []string{event.LivePrefix, event.DrillPrefix} {
		src, dest := prefix, fmt.Sprintf("%s.{{partition(%d,1)}}.%s", PartitionToken, n, prefix)
		for i := 1; i <= 3; i++ {
			src += ".*"
			dest += fmt.Sprintf(".{{wildcard(%d)}}", i)
			out = append(out, jetstream.SubjectTransformConfig{Source: src, Destination: dest})
		}
		out = append(out, jetstream.SubjectTransformConfig{Source: src + ".>", Destination: dest + ".>"})
	}
	return out
}

// partitionedStream is the config of StreamPartitioned for n partitions.
// It keeps what EVENTS keeps: a taking-over router rebuilds a partition's
// windows from it, filtered to that partition by the server.
func (t Topology) partitionedStream() jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        StreamPartitioned,
		Description: fmt.Sprintf("aftershock events by partition (%d, by cluster) for partitioned routers; sourced from EVENTS", t.Partitions),
		Sources: []*jetstream.StreamSource{{
			Name:              StreamEvents,
			SubjectTransforms: partitionTransforms(t.Partitions),
		}},
		Retention:  jetstream.LimitsPolicy,
		Storage:    jetstream.FileStorage,
		MaxAge:     t.EventsMaxAge,
		MaxBytes:   t.EventsMaxBytes,
		MaxMsgs:    -1,
		Duplicates: t.DupeWindow,
		Replicas:   t.Replicas,
		MaxMsgSize: -1, // sourcing adds a header to EVENTS' largest messages
		Discard:    jetstream.DiscardOld,
	}
}

// routersBucket holds one key per live router; a router that stops
// heartbeating ages out after MemberTTL.
func (t Topology) routersBucket() jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      BucketRouters,
		Description: "aftershock partitioned routers: one key per live router, refreshed by its heartbeat",
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

// sourcesMatch compares what decides partitioning: the sourced stream and
// its transforms.
func sourcesMatch(have, want []*jetstream.StreamSource) bool {
	return slices.EqualFunc(have, want, func(a, b *jetstream.StreamSource) bool {
		return a != nil && b != nil && a.Name == b.Name &&
			slices.EqualFunc(a.SubjectTransforms, b.SubjectTransforms, func(x, y jetstream.SubjectTransformConfig) bool {
				return x.Source == y.Source && x.Destination == y.Destination
			})
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
// no constant for it).
const streamSourceHeader = "Nats-Stream-Source"

// SourceSeq is the EVENTS sequence of a message sourced into
// StreamPartitioned, from its Nats-Stream-Source header
// ("EVENTS <seq> <filter> <dest> <subject>").
func SourceSeq(h nats.Header) (uint64, bool) {
	f := strings.Fields(h.Get(streamSourceHeader))
	if len(f) < 2 || f[0] != StreamEvents {
		return 0, false
	}
	seq, err := strconv.ParseUint(f[1], 10, 64)
	return seq, err == nil
}

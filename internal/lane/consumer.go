package lane

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
)

// A lane's JetStream consumer: its settings, where a new one starts, and
// making it before anything consumes.

// consumerConfig is the lane's consumer for the given filter and start.
func (l *Lane) consumerConfig(filters []string, start uint64) jetstream.ConsumerConfig {
	desc := "aftershock router: rule evaluation"
	if l.cfg.Name != "" {
		desc += " of " + l.cfg.Name
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       l.cfg.Durable,
		Description:   desc,
		AckPolicy:     jetstream.AckAllPolicy,
		AckWait:       l.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: l.cfg.MaxAckPending,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if l.cfg.Pinned {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
		cfg.PriorityPolicy, cfg.PriorityGroups = jetstream.PriorityPolicyPinned, []string{PinGroup}
		// A router that stops pulling loses the pin after this long; its
		// heartbeat key ages out in the same time.
		cfg.PinnedTTL = l.cfg.PinnedTTL
	}
	if len(filters) == 1 {
		cfg.FilterSubject = filters[0]
	} else {
		cfg.FilterSubjects = filters
	}
	return cfg
}

// Prepare makes the lane's consumer if it does not exist yet, without
// consuming. A router calls it for every lane before it says it is ready:
// a new pinned consumer starts after what the stream holds, so one made
// only when a router first takes the lane would pass over, silently, the
// events stored in between.
func (l *Lane) Prepare(ctx context.Context, filters []string) error {
	_, err := l.ensureConsumer(ctx, filters)
	return err
}

// Cover makes the lane's consumer read at least the given filters: it
// makes a missing one, and adds to an existing one the filters it lacks,
// leaving the rest of its settings alone. A reload that brings fleet rules
// on a new event class calls it on every router before it returns:
//   - an existing consumer's settings are for the router that takes the lane
//     to change, with its own rules (another router's may be older or newer
//     while the reloads roll), so Cover only widens;
//   - left to the owner's next Acquire, the new filters would take effect up
//     to a heartbeat later, and the server does not rewind a consumer whose
//     filters change: events of the new class stored in between would never
//     be read (TestFleetRulesAddedByReload).
func (l *Lane) Cover(ctx context.Context, filters []string) error {
	js, stream := l.cfg.JS, l.cfg.Source.Stream
	cons, err := js.Consumer(ctx, stream, l.cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		_, err = l.ensureConsumer(ctx, filters)
		return err
	}
	if err != nil {
		return fmt.Errorf("consumer %s on %s: %w", l.cfg.Durable, stream, err)
	}
	cfg := cons.CachedInfo().Config
	have := cfg.FilterSubjects
	if cfg.FilterSubject != "" {
		have = []string{cfg.FilterSubject}
	}
	union, wider := coverFilters(have, filters)
	if !wider {
		return nil
	}
	cfg.FilterSubject, cfg.FilterSubjects = "", union
	if len(union) == 1 {
		cfg.FilterSubject, cfg.FilterSubjects = union[0], nil
	}
	if _, err := js.UpdateConsumer(ctx, stream, cfg); err != nil {
		return fmt.Errorf("widen consumer %s on %s: %w", l.cfg.Durable, stream, err)
	}
	return nil
}

// coverFilters is the union of a consumer's filters and more, sorted, and
// whether it reads more than have. No filters at all reads everything.
func coverFilters(have, more []string) ([]string, bool) {
	if len(have) == 0 {
		return nil, false
	}
	if len(more) == 0 {
		return nil, true
	}
	union := slices.Clone(have)
	for _, f := range more {
		if !slices.Contains(union, f) {
			union = append(union, f)
		}
	}
	slices.Sort(union)
	return union, len(union) > len(have)
}

// ensureConsumer creates the lane's consumer if it does not exist (pinned:
// starting after what the stream holds now), or updates its settings that
// may change.
func (l *Lane) ensureConsumer(ctx context.Context, filters []string) (jetstream.Consumer, error) {
	js, stream := l.cfg.JS, l.cfg.Source.Stream
	if !l.cfg.Pinned {
		cfg := l.consumerConfig(filters, 0)
		if old, err := js.Consumer(ctx, stream, l.cfg.Durable); err == nil {
			cfg.AckPolicy = old.CachedInfo().Config.AckPolicy // not to be changed
		}
		cons, err := js.CreateOrUpdateConsumer(ctx, stream, cfg)
		if err != nil {
			return nil, fmt.Errorf("consumer %s on %s: %w", l.cfg.Durable, stream, err)
		}
		return cons, nil
	}
	cons, err := js.Consumer(ctx, stream, l.cfg.Durable)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		start, err := l.start(ctx)
		if err != nil {
			return nil, err
		}
		cons, err = js.CreateConsumer(ctx, stream, l.consumerConfig(filters, start))
		if errors.Is(err, jetstream.ErrConsumerExists) { // another router was first
			cons, err = js.Consumer(ctx, stream, l.cfg.Durable)
		}
		if err != nil {
			return nil, fmt.Errorf("consumer %s on %s: %w", l.cfg.Durable, stream, err)
		}
		return cons, nil
	}
	if err != nil {
		return nil, fmt.Errorf("consumer %s on %s: %w", l.cfg.Durable, stream, err)
	}
	have := cons.CachedInfo().Config
	want := l.consumerConfig(filters, have.OptStartSeq)
	want.DeliverPolicy, want.OptStartTime, want.AckPolicy = have.DeliverPolicy, have.OptStartTime, have.AckPolicy
	if have.AckWait != want.AckWait || have.PinnedTTL != want.PinnedTTL ||
		have.FilterSubject != want.FilterSubject || !slices.Equal(have.FilterSubjects, want.FilterSubjects) {
		if cons, err = js.UpdateConsumer(ctx, stream, want); err != nil {
			return nil, fmt.Errorf("update consumer %s on %s: %w", l.cfg.Durable, stream, err)
		}
	}
	return cons, nil
}

// start is where a new pinned consumer begins: after the events already
// stored, which a rebuild replays silently (see bus.PartitionStart).
func (l *Lane) start(ctx context.Context) (uint64, error) {
	if l.cfg.Source.Stream == bus.StreamPartitioned {
		wctx, cancel := context.WithTimeout(ctx, l.cfg.Timeouts.StartWait)
		defer cancel()
		start, caught, err := bus.PartitionStart(wctx, l.cfg.JS)
		if err == nil && !caught {
			l.log.Warn("partitioned stream still catching up with EVENTS; events sourced later are evaluated live", "start", start)
		}
		return start, err
	}
	st, err := l.cfg.JS.Stream(ctx, l.cfg.Source.Stream)
	if err != nil {
		return 0, fmt.Errorf("stream %s: %w", l.cfg.Source.Stream, err)
	}
	return st.CachedInfo().State.LastSeq + 1, nil
}

package collector

import (
	"context"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// Emitter turns an observation into a published event. Sources call it; the
// collector fills the envelope (id, source, cluster, node) and publishes.
type Emitter interface {
	// Emit publishes an event of type typ that happened at t (node clock).
	Emit(ctx context.Context, typ string, t time.Time, data any) error
}

// Source is one thing the collector watches (kernel log, reboots, DNS, log
// files). Run blocks until ctx ends; an error stops only that source, which
// the collector logs and restarts after a pause.
type Source interface {
	Name() string
	Run(ctx context.Context, emit Emitter) error
}

// Publisher stores an event durably, or keeps it until it can. The JetStream
// publisher is the default; the disk spool wraps it.
type Publisher interface {
	Publish(ctx context.Context, ev event.Encoded) error
}

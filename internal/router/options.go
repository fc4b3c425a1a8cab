// Package router is the router service: it consumes events, evaluates the
// rules and publishes and delivers alerts. main parses flags into Options and
// calls Run; tests run the whole service in-process the same way.
package router

import (
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/ingest"
	"github.com/aftershock/aftershock/internal/lane"
	"github.com/aftershock/aftershock/internal/webauth"
)

// Options configure a router. Defaults are applied by Defaults, in one place.
type Options struct {
	NATS bus.Options
	// StateDir holds the embedded server's store, and with partitions the
	// lanes' pin ids (lane.Config.PinFile).
	StateDir string
	// RulesDir is the rule pack directory.
	RulesDir string
	// HTTPAddr serves /healthz, /readyz and /metrics.
	HTTPAddr string
	// Consumer is the durable consumer name on EVENTS; routers sharing it
	// share the work.
	Consumer string
	// Topology of streams and buckets to provision.
	Topology bus.Topology
	// Replicas, when not 0, overrides Topology.Replicas; 0 means
	// bus.AutoReplicas: 3 on a NATS cluster, 1 on a single server.
	Replicas int
	// AckWait bounds how long an event (or an alert on ALERTS) may take
	// before redelivery (default 5s). Events waiting for their alerts to
	// be stored are kept in progress, so it only bounds how long the
	// messages a dead router held wait: a crashed router's events come
	// back, and its consumer's ack floor moves on, after AckWait.
	AckWait time.Duration
	// Console receives alerts printed by the console receiver.
	Console io.Writer
	// Ingest serves the HTTP ingest endpoints on the ops server, with
	// IngestOptions (JS, registry and log are filled in).
	Ingest        bool
	IngestOptions ingest.Options
	// IngestNKey or IngestCreds authenticate ingest's own NATS connection
	// as the ingest role, which may publish events (the router's role may
	// not). Empty: ingest shares the router's connection (embedded server,
	// or a NATS without per-role permissions).
	IngestNKey, IngestCreds string
	// Web says who may write (silences) through the Alertmanager API and
	// the pages; the zero value is read-only.
	Web webauth.Options
	// Getenv reads receiver secrets named in routing.yaml (default os.Getenv).
	Getenv func(string) string
	// NoRulesWatch turns off reloading on file changes; SIGHUP still
	// reloads (for filesystems without inotify).
	NoRulesWatch bool
	// Partitions, when not 0, splits the events that many ways by cluster
	// and lets the routers sharing this NATS divide the partitions (see
	// partition.go and docs/deploy.md); 0 keeps one durable consumer that
	// every router shares.
	Partitions int
	// RouterID names this router among the partitioned routers (default:
	// the host name); two live routers must not share it.
	RouterID string
	// MemberTTL is how long a partitioned router that stops heartbeating
	// keeps its partitions: the hand-over delay after a crash.
	MemberTTL time.Duration
	// Timeouts bound the router's waits on NATS and its clocks.
	Timeouts Timeouts
	// Pprof serves the Go profiler on the ops port (/debug/pprof/).
	Pprof bool
}

// Timeouts bound the router's waits; zero fields take the defaults, which
// Defaults sets here and nowhere else.
type Timeouts struct {
	// Publish bounds one attempt to store an alert or a dead letter (5s).
	Publish time.Duration
	// Shutdown bounds each step of a graceful stop: serving HTTP, storing
	// what is in flight (5s).
	Shutdown time.Duration
	// RebuildRead is how long a rebuild waits for the next stored event
	// before it counts the stream as read (5s).
	RebuildRead time.Duration
	// PartitionStart bounds finding where a new partition consumer starts
	// (30s).
	PartitionStart time.Duration
	// NATSCall bounds one-off calls: unpinning a released lane, listing the
	// routers, removing this router's key at a stop (5s).
	NATSCall time.Duration
	// IdleTick is how often the idle clock runs (5s); IdleLag keeps it
	// behind the wall clock by more than an event's usual trip from node
	// to router (10s; negative: no lag).
	IdleTick, IdleLag time.Duration
	// ReloadDebounce lets changes to the rules directory settle before a
	// reload (300ms).
	ReloadDebounce time.Duration
	// Snapshot is how often each lane saves its window state in WINDOWS
	// (10s): a restart replays the events after the last one.
	Snapshot time.Duration
}

func (t *Timeouts) defaults() {
	for _, f := range []struct {
		d   *time.Duration
		def time.Duration
	}{
		{&t.Publish, 5 * time.Second}, {&t.Shutdown, 5 * time.Second}, {&t.RebuildRead, 5 * time.Second},
		{&t.PartitionStart, 30 * time.Second}, {&t.NATSCall, 5 * time.Second},
		{&t.IdleTick, 5 * time.Second}, {&t.IdleLag, 10 * time.Second}, {&t.ReloadDebounce, 300 * time.Millisecond},
		{&t.Snapshot, lane.DefaultSnapshotEvery},
	} {
		if *f.d == 0 {
			*f.d = f.def
		}
	}
}

// validate names timeouts that are not positive.
func (t Timeouts) validate() []error {
	var errs []error
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"publish", t.Publish}, {"shutdown", t.Shutdown}, {"rebuild read", t.RebuildRead},
		{"partition start", t.PartitionStart}, {"nats call", t.NATSCall}, {"idle tick", t.IdleTick},
		{"reload debounce", t.ReloadDebounce}, {"snapshot", t.Snapshot},
	} {
		if f.d <= 0 {
			errs = append(errs, fmt.Errorf("timeout %s %s: must be positive", f.name, f.d))
		}
	}
	return errs
}

// Defaults fills zero fields.
func (o *Options) Defaults() {
	if o.StateDir == "" {
		o.StateDir = "./state/router"
	}
	if o.RulesDir == "" {
		o.RulesDir = "./rules"
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = "127.0.0.1:9470"
	}
	if o.Consumer == "" {
		o.Consumer = "router"
	}
	if o.Topology == (bus.Topology{}) {
		o.Topology = bus.DefaultTopology()
	}
	if o.AckWait == 0 {
		o.AckWait = DefaultAckWait
	}
	if o.Console == nil {
		o.Console = os.Stdout
	}
	if o.NATS.Name == "" {
		o.NATS.Name = "aftershock-router"
	}
	if o.NATS.InboxPrefix == "" {
		o.NATS.InboxPrefix = bus.RouterInbox // the router user may receive on nothing else
	}
	if o.NATS.URL == "" && o.NATS.Embedded.StateDir == "" {
		o.NATS.Embedded.StateDir = o.StateDir
	}
	if o.MemberTTL == 0 {
		o.MemberTTL = DefaultMemberTTL
	}
	o.Timeouts.defaults()
	if o.RouterID == "" {
		h, _ := os.Hostname()
		o.RouterID = routerIDRE.ReplaceAllString(h, "_")
	}
}

// DefaultAckWait is Options.AckWait's default.
const DefaultAckWait = 5 * time.Second

// DefaultMemberTTL is Options.MemberTTL's default.
const DefaultMemberTTL = 15 * time.Second

// GCPercent is the most GOGC the router runs with under a soft memory
// limit (--gc-percent auto); the tuner also keeps the collection goal
// under half the limit, which is what guards capacity. At Go's 100 the
// collections' marks were most of the page's p99 at 1 000 events/s; 400
// made them a quarter as many, and 1 600 (a goal of at most 17× the live
// heap) halves them again. Past that, fewer still do not shorten the tail
// (docs/benchmarks.md).
const GCPercent = 1600

// routerIDRE: a router id is a KV key (and a log field).
var routerIDRE = regexp.MustCompile(`[^A-Za-z0-9_.-]`)

// Validate names every bad field.
func (o *Options) Validate() error {
	var errs []error
	if st, err := os.Stat(o.RulesDir); err != nil {
		errs = append(errs, fmt.Errorf("rules dir: %w", err))
	} else if !st.IsDir() {
		errs = append(errs, fmt.Errorf("rules dir %s: not a directory", o.RulesDir))
	}
	if o.AckWait < time.Second {
		errs = append(errs, fmt.Errorf("ack wait %s: must be at least 1s", o.AckWait))
	}
	if o.Replicas < 0 || o.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: want 0 (auto) or 1 to 5", o.Replicas))
	}
	if o.Topology.DupeWindow < 5*time.Minute {
		errs = append(errs, fmt.Errorf("duplicate window %s: must be at least 5m so retried publishes are stored once", o.Topology.DupeWindow))
	}
	errs = append(errs, o.validateIngest()...)
	errs = append(errs, o.Timeouts.validate()...)
	if o.Partitions < 0 || o.Partitions > bus.MaxPartitions {
		errs = append(errs, fmt.Errorf("partitions %d: want 0 (one shared consumer) or 1 to %d", o.Partitions, bus.MaxPartitions))
	}
	if o.Partitions > 0 {
		if o.RouterID == "" || routerIDRE.MatchString(o.RouterID) || len(o.RouterID) > 128 || strings.HasPrefix(o.RouterID, leasePrefix) {
			errs = append(errs, fmt.Errorf("router id %q: want 1 to 128 letters, digits, '.', '_' or '-', not starting %q", o.RouterID, leasePrefix))
		}
	}
	// The notifier lease expires after MemberTTL too, partitioned or not.
	if o.MemberTTL < 3*time.Second {
		errs = append(errs, fmt.Errorf("member ttl %s: must be at least 3s", o.MemberTTL))
	}
	if o.NATS.URL == "" && (o.NATS.Embedded.Port < -1 || o.NATS.Embedded.Port > 65535) {
		errs = append(errs, fmt.Errorf("nats port %d: out of range", o.NATS.Embedded.Port))
	}
	return errors.Join(errs...)
}

// validateIngest: with per-role NATS users the router's own user may not
// publish events, so ingest needs its own credentials; failing at start
// beats answering every ingest request with 503.
func (o *Options) validateIngest() []error {
	var errs []error
	if o.IngestNKey != "" && o.IngestCreds != "" {
		errs = append(errs, errors.New("ingest nats: --ingest-nats-nkey and --ingest-nats-creds are exclusive"))
	}
	for _, f := range []struct{ flag, path string }{{"--ingest-nats-nkey", o.IngestNKey}, {"--ingest-nats-creds", o.IngestCreds}} {
		if f.path == "" {
			continue
		}
		if _, err := os.ReadFile(f.path); err != nil {
			errs = append(errs, fmt.Errorf("ingest nats %s: %w", f.flag, err))
		}
	}
	authenticated := o.NATS.URL != "" && (o.NATS.NKey != "" || o.NATS.Creds != "")
	if o.Ingest && authenticated && o.IngestNKey == "" && o.IngestCreds == "" {
		errs = append(errs, errors.New("ingest: set --ingest-nats-nkey (or --ingest-nats-creds) to the ingest user's credentials: the router's NATS user may not publish events"))
	}
	if o.Ingest {
		if err := ingest.CheckExposure(o.HTTPAddr, o.IngestOptions.Token); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

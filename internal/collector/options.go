// Package collector is the node agent: it watches the node and publishes
// CloudEvents to NATS JetStream. main parses flags into Options and calls Run.
package collector

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/dnsprobe"
	"github.com/aftershock/aftershock/internal/ingest"
	"github.com/aftershock/aftershock/internal/spool"
)

// Options configure a collector; Defaults applies defaults in one place.
type Options struct {
	NATS    bus.Options
	Cluster string
	Node    string
	// HostRoot is where the host's filesystem is mounted ("/" on the host).
	HostRoot string
	StateDir string
	HTTPAddr string
	// Heartbeat is the node.heartbeat period.
	Heartbeat time.Duration
	// PostureEvery is how often posture is re-read; it is published only
	// when it changed.
	PostureEvery time.Duration
	// PublishTimeout bounds one JetStream publish.
	PublishTimeout time.Duration
	// ShutdownTimeout bounds each step of a stop: the HTTP servers, the
	// stop marker for reboot forensics (default 5s).
	ShutdownTimeout time.Duration
	// SourceRestart is how long a failed source waits before it is started
	// again (default 10s).
	SourceRestart time.Duration
	// KdumpMinFreeMB is the free space the crash dir needs for kdump to
	// count as ready in node.posture.
	KdumpMinFreeMB int64
	// HostCommand runs journalctl and systemctl for reboot forensics
	// (default: exec; tests serve fixtures).
	HostCommand func(ctx context.Context, name string, args ...string) ([]byte, error)
	// SpoolMaxBytes caps the disk spool (StateDir/spool) that keeps events
	// while NATS is away; when full the oldest are dropped and reported.
	SpoolMaxBytes int64
	Version       string
	// Sources are the watchers to run beside heartbeat and posture.
	Sources []Source
	// IngestEnabled serves POST /v1/events and /v1/alertmanager with
	// Ingest's settings, on the ops server or on IngestAddr when set.
	IngestEnabled bool
	IngestAddr    string
	Ingest        ingest.Options
	// DNSEnabled probes resolvers (DNS's targets, and with DNSResolvConf
	// the nameservers of the host's /etc/resolv.conf).
	DNSEnabled    bool
	DNSResolvConf bool
	DNS           dnsprobe.Config
	// LogGlobs are the log files tailed for timeouts (paths as seen by the
	// collector, not under HostRoot: kubelet's symlinks are absolute), with
	// the patterns of LogPatterns ("" for the built-in examples).
	LogGlobs     []string
	LogPatterns  string
	LogFromStart bool
	LogRollup    time.Duration
	// Kmsg is the kernel log device under HostRoot (main's default
	// /dev/kmsg); empty turns the kernel watcher off. Signatures is an
	// extra signature pack file; KernelRollup the rollup interval.
	Kmsg         string
	Signatures   string
	KernelRollup time.Duration
}

// Defaults fills zero fields.
func (o *Options) Defaults() {
	if o.NATS.URL == "" {
		o.NATS.URL = "nats://127.0.0.1:4222"
	}
	if o.NATS.Name == "" {
		o.NATS.Name = "aftershock-collector"
	}
	if o.Cluster == "" {
		o.Cluster = "default"
	}
	if o.Node == "" {
		o.Node, _ = os.Hostname()
	}
	if o.HostRoot == "" {
		o.HostRoot = "/"
	}
	if o.StateDir == "" {
		o.StateDir = "./state/collector"
	}
	if o.HTTPAddr == "" {
		o.HTTPAddr = "127.0.0.1:9471"
	}
	if o.Heartbeat == 0 {
		o.Heartbeat = 10 * time.Second
	}
	if o.PostureEvery == 0 {
		o.PostureEvery = time.Minute
	}
	if o.PublishTimeout == 0 {
		o.PublishTimeout = 5 * time.Second
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 5 * time.Second
	}
	if o.SourceRestart == 0 {
		o.SourceRestart = 10 * time.Second
	}
	if o.KdumpMinFreeMB == 0 {
		o.KdumpMinFreeMB = 1024
	}
	if o.SpoolMaxBytes == 0 {
		o.SpoolMaxBytes = 64 << 20
	}
	if o.Version == "" {
		o.Version = "dev"
	}
}

// Validate names every bad field.
func (o *Options) Validate() error {
	var errs []error
	if o.Node == "" {
		errs = append(errs, errors.New("node: empty and the hostname is unknown; set --node"))
	}
	if o.Heartbeat < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("heartbeat %s: must be at least 100ms", o.Heartbeat))
	}
	if o.ShutdownTimeout <= 0 || o.SourceRestart <= 0 || o.PublishTimeout <= 0 {
		errs = append(errs, fmt.Errorf("timeouts: publish %s, shutdown %s, source restart %s: must be positive", o.PublishTimeout, o.ShutdownTimeout, o.SourceRestart))
	}
	if o.PostureEvery < time.Second {
		errs = append(errs, fmt.Errorf("posture interval %s: must be at least 1s", o.PostureEvery))
	}
	if o.KernelRollup != 0 && o.KernelRollup < time.Second {
		errs = append(errs, fmt.Errorf("kernel rollup %s: must be at least 1s", o.KernelRollup))
	}
	if st, err := os.Stat(o.HostRoot); err != nil || !st.IsDir() {
		errs = append(errs, fmt.Errorf("host root %q: not a directory", o.HostRoot))
	}
	if o.KdumpMinFreeMB < 0 {
		errs = append(errs, fmt.Errorf("kdump min free %d MB: must not be negative", o.KdumpMinFreeMB))
	}
	if o.IngestEnabled {
		addr := o.IngestAddr
		if addr == "" {
			addr = o.HTTPAddr
		}
		if err := ingest.CheckExposure(addr, o.Ingest.Token); err != nil {
			errs = append(errs, err)
		}
	}
	if o.SpoolMaxBytes < spool.MinMaxBytes {
		errs = append(errs, fmt.Errorf("spool max bytes %d: must be at least %d", o.SpoolMaxBytes, spool.MinMaxBytes))
	}
	return errors.Join(errs...)
}

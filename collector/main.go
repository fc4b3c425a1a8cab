// Command collector is aftershock's node agent. See README.md and
// `collector --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/aftershock/aftershock/internal/collector"
	"github.com/aftershock/aftershock/internal/logging"
	"github.com/aftershock/aftershock/internal/memlimit"
	"github.com/aftershock/aftershock/internal/version"
)

const usage = `collector: watch a node (kernel, reboots, DNS, timeouts) and publish
CloudEvents to NATS JetStream.

Usage:
  collector [flags]
  collector scan [flags] FILE...   classify saved kernel logs (collector scan --help)
  collector version                print the version, commit and Go version
  collector help                   print this help

Flags:
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "scan" {
		return runScan(args[1:], os.Stdin, os.Stdout, os.Stderr)
	}
	if len(args) > 0 && args[0] == "version" {
		_ = version.Get().Print(os.Stdout, "collector")
		return 0
	}
	fs := flag.NewFlagSet("collector", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}

	var o collector.Options
	var logFlags logging.Flags
	var memFlags memlimit.Flags
	o.Version = version.Get().Version
	o.NATS.RegisterFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s), comma-separated")
	fs.StringVar(&o.Cluster, "cluster", envOr("AFTERSHOCK_CLUSTER", "default"), "cluster name carried by every event [$AFTERSHOCK_CLUSTER]")
	fs.StringVar(&o.Node, "node", os.Getenv("AFTERSHOCK_NODE"), "node name (default: hostname) [$AFTERSHOCK_NODE]")
	fs.StringVar(&o.HostRoot, "host-root", envOr("AFTERSHOCK_HOST_ROOT", "/"), "where the host filesystem is mounted [$AFTERSHOCK_HOST_ROOT]")
	fs.StringVar(&o.StateDir, "state-dir", envOr("AFTERSHOCK_STATE_DIR", "./state/collector"), "state directory [$AFTERSHOCK_STATE_DIR]")
	fs.StringVar(&o.HTTPAddr, "http", envOr("AFTERSHOCK_HTTP", "127.0.0.1:9471"), "address for /healthz, /readyz and /metrics [$AFTERSHOCK_HTTP]")
	fs.DurationVar(&o.Heartbeat, "heartbeat", 10*time.Second, "node.heartbeat period")
	fs.DurationVar(&o.PostureEvery, "posture-interval", time.Minute, "how often posture is re-read (published on change)")
	fs.BoolVar(&o.IngestEnabled, "ingest", false, "serve POST /v1/events and /v1/alertmanager on --http (or --ingest-addr)")
	fs.StringVar(&o.IngestAddr, "ingest-addr", os.Getenv("AFTERSHOCK_INGEST_ADDR"), "serve ingest on its own address, e.g. the node IP for pods; implies --ingest [$AFTERSHOCK_INGEST_ADDR]")
	fs.StringVar(&o.Ingest.Token, "ingest-token", os.Getenv("AFTERSHOCK_INGEST_TOKEN"), "bearer token ingest clients must send (prefer the environment) [$AFTERSHOCK_INGEST_TOKEN]")
	fs.Int64Var(&o.Ingest.MaxBytes, "ingest-max-bytes", 1<<20, "largest ingest request body")
	fs.Float64Var(&o.Ingest.Rate, "ingest-rate", 0, "ingest limit in events per second (0: none)")
	fs.BoolVar(&o.DNSEnabled, "dns", true, "probe DNS resolvers (--dns-target, and the host's resolv.conf unless --dns-resolv-conf=false)")
	fs.BoolVar(&o.DNSResolvConf, "dns-resolv-conf", true, "probe the nameservers of /etc/resolv.conf under --host-root for \".\" (NS)")
	fs.Var((*listFlag)(&o.DNS.Targets), "dns-target", "resolver to probe, IP or IP:port; repeatable or comma-separated (kube-dns service IP, CoreDNS endpoints, 169.254.20.10) [$AFTERSHOCK_DNS_TARGETS]")
	fs.Var((*listFlag)(&o.DNS.Names), "dns-name", "name queried (A) on every --dns-target; repeatable (default kubernetes.default.svc.cluster.local.)")
	fs.DurationVar(&o.DNS.Interval, "dns-interval", 5*time.Second, "time between DNS probe rounds")
	fs.DurationVar(&o.DNS.Timeout, "dns-timeout", 2*time.Second, "timeout of one DNS query")
	fs.BoolVar(&o.DNS.TCP, "dns-tcp", false, "probe over TCP as well as UDP")
	fs.DurationVar(&o.DNS.Rollup, "dns-rollup", time.Minute, "repeated DNS failures are counted into one event per this interval")
	fs.DurationVar(&o.DNS.Summary, "dns-summary", time.Minute, "period of the dns.probe summary")
	fs.Var((*listFlag)(&o.LogGlobs), "log-glob", "log files to tail for timeouts, e.g. /var/log/containers/*.log (CRI) or /var/log/app/*.log; repeatable [$AFTERSHOCK_LOG_GLOBS]")
	fs.StringVar(&o.LogPatterns, "log-patterns", os.Getenv("AFTERSHOCK_LOG_PATTERNS"), "YAML file of log patterns (default: the built-in examples, internal/logtail/patterns.yaml) [$AFTERSHOCK_LOG_PATTERNS]")
	fs.BoolVar(&o.LogFromStart, "log-from-start", false, "at the first start, read existing log files from their beginning instead of their end")
	fs.DurationVar(&o.LogRollup, "log-rollup", time.Minute, "repeated matches of one pattern in one file are counted into one event per this interval")
	fs.StringVar(&o.Kmsg, "kmsg", envOr("AFTERSHOCK_KMSG", "/dev/kmsg"), "kernel log device under --host-root; empty turns the kernel watcher off [$AFTERSHOCK_KMSG]")
	fs.StringVar(&o.Signatures, "signatures", os.Getenv("AFTERSHOCK_SIGNATURES"), "extra kernel signature pack (YAML), placed before the built-in one [$AFTERSHOCK_SIGNATURES]")
	fs.DurationVar(&o.KernelRollup, "kernel-rollup", time.Minute, "repeated kernel lines (conntrack drops, netdevice waits) are counted into one event per this interval")
	fs.Int64Var(&o.KdumpMinFreeMB, "kdump-min-free-mb", 1024, "free space (MB) the crash dir needs for kdump to count as ready in node.posture")
	fs.Int64Var(&o.SpoolMaxBytes, "spool-max-bytes", 64<<20, "cap of the disk spool that keeps events while NATS is away (oldest dropped when full)")
	logFlags.Register(fs)
	memFlags.Register(fs)
	if v := os.Getenv("AFTERSHOCK_LOG_GLOBS"); v != "" {
		_ = (*listFlag)(&o.LogGlobs).Set(v)
	}
	if v := os.Getenv("AFTERSHOCK_DNS_TARGETS"); v != "" {
		_ = (*listFlag)(&o.DNS.Targets).Set(v)
	}
	if len(args) > 0 && args[0] == "help" {
		fs.SetOutput(os.Stdout)
		fs.Usage()
		return 0
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "collector: unexpected argument %q (see collector --help)\n", fs.Arg(0))
		return 2
	}
	if o.IngestAddr != "" {
		o.IngestEnabled = true
	}
	log, err := logFlags.New(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "collector:", err)
		return 2
	}
	if _, err := memFlags.Apply(context.Background(), os.DirFS("/"), log); err != nil {
		fmt.Fprintln(os.Stderr, "collector:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := collector.Run(ctx, o, log); err != nil {
		log.Error("collector failed", "err", err)
		return 1
	}
	return 0
}

// listFlag is a repeatable flag that also splits on commas.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// Command router consumes aftershock events from NATS JetStream, correlates
// them with CEL rules and delivers alerts. See README.md and `router --help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/aftershock/aftershock/internal/logging"
	"github.com/aftershock/aftershock/internal/memlimit"
	"github.com/aftershock/aftershock/internal/router"
	"github.com/aftershock/aftershock/internal/version"
)

const usage = `router: correlate node, kernel, DNS and RPC events into alerts.

Usage:
  router [flags]              run the router (embedded NATS unless --nats is set)
  router rules check DIR      check a rule pack; exit 1 with file:line problems
  router rules test DIR       run the rule tests (*_test.yaml) under DIR
  router silence add|list|expire   manage silences (router silence for help)
  router backtest [flags]     alerts a rule set would have raised on stored events (see router backtest --help)
  router version              print the version, commit and Go version
  router help                 print this help

Run flags:
`

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) > 0 && args[0] == "rules" {
		return rulesCmd(args[1:], os.Stdout, os.Stderr)
	}
	if len(args) > 0 && args[0] == "silence" {
		return silenceCmd(args[1:], os.Stdout, os.Stderr)
	}
	if len(args) > 0 && args[0] == "backtest" {
		return backtestCmd(args[1:])
	}
	if len(args) > 0 && args[0] == "version" {
		_ = version.Get().Print(os.Stdout, "router")
		return 0
	}
	fs := flag.NewFlagSet("router", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}

	var o router.Options
	partitions := 0
	if v := os.Getenv("AFTERSHOCK_PARTITIONS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			fmt.Fprintf(os.Stderr, "router: $AFTERSHOCK_PARTITIONS=%q: not a number\n", v)
			return 2
		}
		partitions = n
	}
	var logFlags logging.Flags
	var memFlags memlimit.Flags
	o.NATS.RegisterFlags(fs, "", "NATS server URL(s), comma-separated; empty starts an embedded server")
	fs.IntVar(&o.NATS.Embedded.Port, "embedded-port", 4222, "client port of the embedded NATS server (-1: any free port)")
	fs.StringVar(&o.NATS.Embedded.Host, "embedded-host", "127.0.0.1", "listen address of the embedded NATS server")
	fs.IntVar(&o.Partitions, "partitions", partitions, "split events this many ways by cluster and share the partitions with the other routers using the same value (docs/deploy.md); 0: one consumer all routers share [$AFTERSHOCK_PARTITIONS]")
	fs.StringVar(&o.RouterID, "router-id", os.Getenv("AFTERSHOCK_ROUTER_ID"), "this router's name among partitioned routers (default: the host name) [$AFTERSHOCK_ROUTER_ID]")
	fs.DurationVar(&o.MemberTTL, "member-ttl", router.DefaultMemberTTL, "how long a router that stops heartbeating keeps its partitions and the notifier lease (the hand-over delay after a crash)")
	fs.IntVar(&o.Replicas, "replicas", 0, "replicas of the streams and buckets the router creates; 0: 3 on a NATS cluster, 1 on a single server")
	fs.StringVar(&o.StateDir, "state-dir", envOr("AFTERSHOCK_STATE_DIR", "./state/router"), "state directory: the embedded JetStream store, and with --partitions the pin ids a restart takes back [$AFTERSHOCK_STATE_DIR]")
	fs.StringVar(&o.RulesDir, "rules", envOr("AFTERSHOCK_RULES", "./rules"), "rule pack directory [$AFTERSHOCK_RULES]")
	fs.BoolVar(&o.NoRulesWatch, "no-rules-watch", os.Getenv("AFTERSHOCK_NO_RULES_WATCH") != "", "do not reload rules on file changes (SIGHUP still reloads) [$AFTERSHOCK_NO_RULES_WATCH]")
	fs.StringVar(&o.HTTPAddr, "http", envOr("AFTERSHOCK_HTTP", "127.0.0.1:9470"), "address for the incident pages (/alerts, /silences), the Alertmanager API (/api/v2/), /healthz, /readyz and /metrics [$AFTERSHOCK_HTTP]")
	fs.BoolVar(&o.Ingest, "ingest", false, "serve POST /v1/events and /v1/alertmanager on --http")
	fs.StringVar(&o.IngestNKey, "ingest-nats-nkey", os.Getenv("AFTERSHOCK_INGEST_NATS_NKEY"), "nkey seed file of the ingest NATS user, for --ingest's own connection [$AFTERSHOCK_INGEST_NATS_NKEY]")
	fs.StringVar(&o.IngestCreds, "ingest-nats-creds", os.Getenv("AFTERSHOCK_INGEST_NATS_CREDS"), "credentials file of the ingest NATS user, for --ingest's own connection [$AFTERSHOCK_INGEST_NATS_CREDS]")
	fs.StringVar(&o.IngestOptions.Token, "ingest-token", os.Getenv("AFTERSHOCK_INGEST_TOKEN"), "bearer token ingest clients must send (prefer the environment) [$AFTERSHOCK_INGEST_TOKEN]")
	fs.StringVar(&o.Web.Token, "web-token", os.Getenv("AFTERSHOCK_WEB_TOKEN"), "bearer token that lets amtool, Grafana and the pages create and expire silences; without it (or --web-user-header) they are read-only (prefer the environment) [$AFTERSHOCK_WEB_TOKEN]")
	fs.StringVar(&o.Web.UserHeader, "web-user-header", os.Getenv("AFTERSHOCK_WEB_USER_HEADER"), "header an authenticating reverse proxy sets to the user (e.g. X-Forwarded-User): requests carrying it may write; only when nothing but the proxy reaches --http [$AFTERSHOCK_WEB_USER_HEADER]")
	fs.BoolVar(&o.Pprof, "pprof", os.Getenv("AFTERSHOCK_PPROF") != "", "serve the Go profiler on --http at /debug/pprof/ (CPU, heap, goroutines, mutex, block, traces); off by default [$AFTERSHOCK_PPROF]")
	logFlags.Register(fs)
	memFlags.Register(fs)
	memFlags.RegisterGC(fs, router.GCPercent)
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
		fmt.Fprintf(os.Stderr, "router: unexpected argument %q (see router --help)\n", fs.Arg(0))
		return 2
	}
	log, err := logFlags.New(os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "router:", err)
		return 2
	}
	if _, err := memFlags.Apply(context.Background(), os.DirFS("/"), log); err != nil {
		fmt.Fprintln(os.Stderr, "router:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := router.Run(ctx, o, log); err != nil {
		log.Error("router failed", "err", err)
		return 1
	}
	return 0
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

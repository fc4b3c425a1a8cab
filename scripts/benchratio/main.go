// Command benchratio measures the router against `nats bench js consume
// --acks explicit` on the same stored backlog (task bench:ratio; see
// internal/ratiobench and docs/benchmarks.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/ratiobench"
	"github.com/aftershock/aftershock/internal/router"
)

func main() {
	o := ratiobench.Options{Out: os.Stdout, Cases: ratiobench.DefaultCases}
	flag.StringVar(&o.Bin, "bin", "./bin", "directory with the router, nats-server and nats binaries")
	flag.StringVar(&o.Pack, "rules", "./rules", "the shipped rule pack")
	flag.IntVar(&o.Events, "events", 300_000, "events in each backlog")
	flag.IntVar(&o.Runs, "runs", 3, "alternating runs of nats bench and the router per load")
	flag.StringVar(&o.Profile, "profile", "", "directory for a CPU profile of one more router run per load, in this process")
	only := flag.Int("case", -1, "run only this load (0: shipped pack, 1: 100 rules, 2: 1000 rules)")
	flag.Parse()
	if *only >= len(o.Cases) {
		fmt.Fprintf(os.Stderr, "benchratio: --case %d: there are %d loads\n", *only, len(o.Cases))
		os.Exit(2)
	}
	if *only >= 0 {
		o.Cases = o.Cases[*only : *only+1]
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	o.Start = func(ctx context.Context, url, rules, state string) (string, func(), error) {
		r, err := router.Start(ctx, router.Options{
			NATS: bus.Options{URL: url}, RulesDir: rules, StateDir: state, HTTPAddr: "127.0.0.1:0",
			Console: io.Discard, NoRulesWatch: true,
		}, log)
		if err != nil {
			return "", nil, err
		}
		return "http://" + r.HTTPAddr() + "/metrics", r.Close, nil
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := ratiobench.Run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "benchratio:", err)
		os.Exit(1)
	}
}

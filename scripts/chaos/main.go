// Command chaos kills the router again and again under load and takes NATS
// away from a collector, then reports what was lost, duplicated and
// delayed (task chaos; see internal/chaos and docs/benchmarks.md).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/aftershock/aftershock/internal/chaos"
)

func main() {
	var o chaos.Options
	flag.StringVar(&o.Bin, "bin", "./bin", "directory with the router, collector and nats-server binaries")
	flag.IntVar(&o.Crashes, "crashes", 20, "times the router is killed with SIGKILL and started again")
	flag.DurationVar(&o.CrashMin, "crash-min", 0, "least time between crashes (default 2s)")
	flag.DurationVar(&o.CrashMax, "crash-max", 0, "most time between crashes (default 4s)")
	flag.IntVar(&o.Rate, "rate", 50, "page events per second (each one alert, one notification)")
	flag.IntVar(&o.Background, "background", 1000, "routine events per second (heartbeats of 500 nodes)")
	flag.DurationVar(&o.Outage, "outage", 0, "NATS away this long while a collector runs (0: no outage; task chaos uses 15s)")
	flag.IntVar(&o.Partitions, "partitions", 0, "run the router with --partitions N (pinned lanes, rebuilt at each start)")
	flag.IntVar(&o.Routers, "routers", 1, "routers to run (more than one needs --partitions); each crash kills one")
	flag.BoolVar(&o.Graceful, "graceful", false, "stop the router with SIGTERM (a rolling update) instead of SIGKILL")
	flag.BoolVar(&o.OutageKill, "outage-kill", false, "begin the NATS outage with SIGKILL instead of a stop")
	flag.StringVar(&o.Dir, "dir", "", "keep the stores and logs here (default: a temp dir, removed)")
	flag.Parse()
	o.Out = os.Stdout
	o.Keep = o.Dir != ""
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	rep, err := chaos.Run(ctx, o)
	if err != nil {
		fmt.Fprintln(os.Stderr, "chaos:", err)
		os.Exit(1)
	}
	fmt.Println()
	rep.Print(os.Stdout)
	if rep.Lost > 0 || rep.CollectorAccepted > rep.CollectorStored {
		os.Exit(1)
	}
}

package ratiobench

import (
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
)

// StartFunc starts a router in this process on url with the rules and state
// directories and returns its /metrics URL and how to stop it. The command
// supplies it (this package does not import the router, whose engine's
// benchmarks use the generator here).
type StartFunc func(ctx context.Context, url, rules, state string) (metrics string, stop func(), err error)

// profileRun runs the router in this process on the same server, backlog
// and rules as the binary, with a CPU profile of the whole run written to
// path and the allocations of this process (since it started: look at the
// router's frames) to path's name with ".allocs", and returns its rate as
// routerRun does (from the same ack floor).
func profileRun(ctx context.Context, js jetstream.JetStream, start StartFunc, url, rules, state string, n int, path string) (rate float64, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return 0, fmt.Errorf("cpu profile: %w", err)
	}
	defer pprof.StopCPUProfile()
	defer func() {
		if err == nil {
			err = writeAllocs(strings.TrimSuffix(path, ".pprof") + ".allocs.pprof")
		}
	}()
	_, stop, err := start(ctx, url, rules, state)
	if err != nil {
		return 0, fmt.Errorf("router: %w", err)
	}
	defer stop()
	cons, err := js.Consumer(ctx, bus.StreamEvents, "router")
	if err != nil {
		return 0, fmt.Errorf("router consumer: %w", err)
	}
	m, err := watch(ctx, n, func() (float64, error) {
		info, err := cons.Info(ctx)
		if err != nil {
			return 0, err
		}
		return float64(info.AckFloor.Stream), nil
	}, func() float64 { return 0 })
	return m.rate, err
}

func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup("allocs").WriteTo(f, 0); err != nil {
		f.Close()
		return fmt.Errorf("allocation profile: %w", err)
	}
	return f.Close()
}

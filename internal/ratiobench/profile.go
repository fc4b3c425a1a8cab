package ratiobench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/pprof"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/router"
)

// profileRun runs the router in this process on the same server, backlog
// and rules as the binary, with a CPU profile of the whole run written to
// path, and returns its rate as routerRun does.
func profileRun(ctx context.Context, url, rules, state string, n int, path string, log *slog.Logger) (float64, error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return 0, fmt.Errorf("cpu profile: %w", err)
	}
	defer pprof.StopCPUProfile()
	r, err := router.Start(ctx, router.Options{
		NATS: bus.Options{URL: url}, RulesDir: rules, StateDir: state, HTTPAddr: "127.0.0.1:0",
		Console: io.Discard, NoRulesWatch: true,
	}, log)
	if err != nil {
		return 0, fmt.Errorf("router: %w", err)
	}
	defer r.Close()
	return watch(ctx, n, func() (float64, error) { return scrape("http://" + r.HTTPAddr() + "/metrics") })
}

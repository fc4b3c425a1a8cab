package router

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/aftershock/aftershock/internal/amapi"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/route"
	"github.com/aftershock/aftershock/internal/version"
)

// mountWeb serves the Alertmanager-compatible API on the ops port. Every
// router serves it (standbys too): it reads ALERT_STATE and SILENCES, not
// the notifier's memory.
func (r *Router) mountWeb(ctx context.Context) error {
	routing, err := route.Load(r.opts.RulesDir)
	if err != nil {
		return fmt.Errorf("routing:\n%w", err)
	}
	var text []byte
	if p, _ := route.Path(r.opts.RulesDir); p != "" { // none: the default routing
		if text, err = os.ReadFile(p); err != nil {
			return fmt.Errorf("routing: %w", err)
		}
	}
	stateKV, err := r.conn.JS.KeyValue(ctx, bus.BucketState)
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", bus.BucketState, err)
	}
	silKV, err := r.conn.JS.KeyValue(ctx, bus.BucketSilence)
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", bus.BucketSilence, err)
	}
	log := r.log.With("component", "web")
	wctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	r.stops = append(r.stops, stop)
	state, err := dispatch.WatchState(wctx, stateKV, log)
	if err != nil {
		return err
	}
	r.ops.Registry.MustRegister(firingCollector{state}, jsCollector{r.conn.JS})
	api, err := amapi.New(amapi.Options{State: state, Silences: silKV, Routing: routing, RoutingText: string(text), ExternalURL: routing.ExternalURL,
		Auth: r.opts.Web, Name: r.opts.RouterID, Version: version.Get(), Started: time.Now(), Log: log})
	if err != nil {
		return err
	}
	api.Mount(r.ops.Mux)
	mode := "read-only"
	if !r.opts.Web.ReadOnly() {
		mode = "writes need the token or the proxy's user header"
	}
	log.Info("serving the Alertmanager API v2 on /api/v2/", "silences", mode)
	return nil
}

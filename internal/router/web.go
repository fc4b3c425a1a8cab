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
	"github.com/aftershock/aftershock/internal/webui"
)

// alertHistory is how far back the pages read ALERTS for recent alerts.
const alertHistory = 72 * time.Hour

// mountWeb serves the incident pages and the Alertmanager-compatible API
// on the ops port. Every router serves them (standbys too): they read
// ALERT_STATE, ALERTS, EVENTS and SILENCES, not the notifier's memory.
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
	// Followed, not waited for: tens of thousands of stored alerts must not
	// hold up a start (the pages fill within a second or two).
	state, err := dispatch.FollowState(wctx, stateKV, log)
	if err != nil {
		return err
	}
	r.ops.Registry.MustRegister(firingCollector{state}, &jsCollector{js: r.conn.JS})
	api, err := amapi.New(amapi.Options{State: state, Silences: silKV, JS: r.conn.JS, Routing: routing, RoutingText: string(text), ExternalURL: routing.ExternalURL,
		Auth: r.opts.Web, Name: r.opts.RouterID, Version: version.Get(), Started: time.Now(), Log: log})
	if err != nil {
		return err
	}
	api.Mount(r.ops.Mux)
	alog, err := webui.FollowAlerts(wctx, r.conn.JS, alertHistory, log)
	if err != nil {
		return err
	}
	r.stops = append(r.stops, alog.Stop)
	ui, err := webui.New(webui.Options{State: state, AlertLog: alog, JS: r.conn.JS, Silences: silKV, Routing: routing, Auth: r.opts.Web, Log: log})
	if err != nil {
		return err
	}
	ui.Mount(r.ops.Mux)
	mode := "read-only"
	if !r.opts.Web.ReadOnly() {
		mode = "writes need the token or the proxy's user header"
	}
	log.Info("serving the incident pages on /alerts and the Alertmanager API v2 on /api/v2/", "silences", mode, "external_url", routing.ExternalURL)
	return nil
}

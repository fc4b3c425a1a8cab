package router

import (
	"context"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/silence"
)

// startNotifier runs the alert lifecycle (internal/dispatch) on ALERTS:
// routing and receivers of the snapshot (a reload reconfigures them),
// silences watched in SILENCES, state in ALERT_STATE, dead letters on
// dlq.notify.<receiver>.
func (r *Router) startNotifier(ctx context.Context) error {
	snap := r.snap.Load()
	routing, targets := snap.routing, snap.targets
	store, err := dispatch.NewKVStore(ctx, r.conn.JS, bus.BucketState)
	if err != nil {
		return err
	}
	r.stops = append(r.stops, store.Close) // after the dispatcher (stops run in reverse)
	log := r.log.With("component", "notify")
	kv, err := r.conn.JS.KeyValue(ctx, bus.BucketSilence)
	if err != nil {
		return fmt.Errorf("open bucket %s: %w", bus.BucketSilence, err)
	}
	wctx, stopWatch := context.WithCancel(context.WithoutCancel(ctx))
	r.stops = append(r.stops, stopWatch)
	silences, err := silence.Watch(wctx, kv, log)
	if err != nil {
		return err
	}
	r.ops.Registry.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aftershock_silences", Help: "Valid silences in SILENCES (any state)."},
			func() float64 { return float64(silences.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aftershock_silences_invalid", Help: "Entries in SILENCES that are not valid silences (ignored; see the log)."},
			func() float64 { return float64(silences.Invalid()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "aftershock_silences_rejected_total", Help: "Entries written to SILENCES that were not valid silences (ignored; a valid silence they overwrote stays in force)."},
			func() float64 { return float64(silences.Rejected()) }))
	d, err := dispatch.New(dispatch.Options{
		Routing: routing, Targets: targets, Store: store, Log: log, Registry: r.ops.Registry, Silences: silences,
		Dead: notify.NewDeadLetters(r.conn.JS, r.opts.Console, log),
	})
	if err != nil {
		return err
	}
	log.Info("notifier ready", "routing", routing.File, "receivers", len(targets))
	return r.leadNotifier(ctx, d, log)
}

package router

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	events      *prometheus.CounterVec
	alerts      *prometheus.CounterVec
	evalErrors  prometheus.CounterFunc
	rulesLoaded prometheus.Gauge
	// evalSeconds times the rule engine on one event.
	evalSeconds prometheus.Histogram
	// snapshots count window snapshots by outcome; snapshotBytes is each
	// lane's last one's size.
	snapshots     *prometheus.CounterVec
	snapshotBytes *prometheus.GaugeVec
	ruleMetrics
}

func newMetrics(reg prometheus.Registerer, evalErrors func() float64) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_router_events_total",
			Help: "Events consumed from EVENTS, by outcome (ok, dead_letter, retry).",
		}, []string{"outcome"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_router_alerts_published_total",
			Help: "Alerts published to ALERTS, by state and timeline.",
		}, []string{"state", "timeline"}),
		evalErrors: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "aftershock_router_rule_eval_errors_total",
			Help: "CEL runtime errors during evaluation; each counts as a non-match.",
		}, evalErrors),
		rulesLoaded: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aftershock_router_rules_loaded",
			Help: "Rules in the active rule set.",
		}),
	}
	m.evalSeconds = prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "aftershock_router_evaluation_seconds",
		Help:    "Time the rule engine took on one event (matching, windows, conditions), without decoding and publishing.",
		Buckets: prometheus.ExponentialBuckets(1e-6, 4, 10),
	})
	m.snapshots = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aftershock_router_window_snapshots_total",
		Help: "Window state snapshots in WINDOWS, by outcome: saved, unacked (not saved: its events were not acked in time), failed, restored (a start from it), refused (a start replaying the stream instead; the log says why).",
	}, []string{"outcome"})
	m.snapshotBytes = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aftershock_router_window_snapshot_bytes",
		Help: "Size of the last window snapshot saved, by lane (\"\" without --partitions).",
	}, []string{"lane"})
	reg.MustRegister(m.events, m.alerts, m.evalErrors, m.rulesLoaded, m.evalSeconds, m.snapshots, m.snapshotBytes)
	m.ruleMetrics = newRuleMetrics(reg)
	return m
}

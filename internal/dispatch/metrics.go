package dispatch

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	ingested     *prometheus.CounterVec
	groups       prometheus.Gauge
	messages     *prometheus.CounterVec
	muted        *prometheus.CounterVec
	deadLettered *prometheus.CounterVec
	storeErrors  prometheus.Counter
	rejected     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		ingested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_lifecycle_alerts_total",
			Help: "Alerts taken from ALERTS by outcome (firing, resolved, duplicate, stale, unknown_resolved, expired, timed_out, invalid, unknown_receiver).",
		}, []string{"outcome"}),
		groups: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aftershock_lifecycle_groups",
			Help: "Aggregation groups alive.",
		}),
		messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_lifecycle_messages_total",
			Help: "Group messages queued for receivers, by kind (page, update, refresh, repeat, resolved).",
		}, []string{"receiver", "kind"}),
		muted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_lifecycle_muted_total",
			Help: "Alerts left out of a group message, by cause (silence, inhibition).",
		}, []string{"by"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_lifecycle_dead_lettered_total",
			Help: "Group messages that ended in the dead-letter stream.",
		}, []string{"receiver"}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aftershock_lifecycle_store_errors_total",
			Help: "Failed writes to the ALERT_STATE bucket (an alert write failure means redelivery).",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_lifecycle_rejected_total",
			Help: "Entries the router did not write, by store: ALERTS messages that are not its alerts (dead-lettered), ALERT_STATE records of another shape (skipped).",
		}, []string{"store"}),
	}
	if reg != nil {
		reg.MustRegister(m.ingested, m.groups, m.messages, m.muted, m.deadLettered, m.storeErrors, m.rejected)
	}
	return m
}

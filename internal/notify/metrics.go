package notify

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics count what the delivery path does, per receiver.
type Metrics struct {
	attempts    *prometheus.CounterVec
	delivered   *prometheus.CounterVec
	deadLetters *prometheus.CounterVec
	coalesced   *prometheus.CounterVec
	pending     *prometheus.GaugeVec
	latency     *prometheus.HistogramVec
}

// NewMetrics registers the delivery metrics on reg (nil: unregistered, for
// tests).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_notify_attempts_total",
			Help: "Delivery attempts by receiver and outcome (ok, retry, failed).",
		}, []string{"receiver", "outcome"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_notify_delivered_total",
			Help: "Notifications delivered, by receiver.",
		}, []string{"receiver"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_notify_dead_letters_total",
			Help: "Notifications dead-lettered on dlq.notify.<receiver>, by receiver and reason.",
		}, []string{"receiver", "reason"}),
		coalesced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_notify_coalesced_total",
			Help: "Messages merged into another instead of being sent alone (superseded group updates and digests).",
		}, []string{"receiver"}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aftershock_notify_queue_pending",
			Help: "Messages waiting for a receiver.",
		}, []string{"receiver"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "aftershock_notify_delivery_seconds",
			Help:    "Time from a notification leaving the queue to its delivery, retries included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10),
		}, []string{"receiver"}),
	}
	if reg != nil {
		reg.MustRegister(m.attempts, m.delivered, m.deadLetters, m.coalesced, m.pending, m.latency)
	}
	return m
}

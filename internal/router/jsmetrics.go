package router

import (
	"context"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/lane"
)

// jsCollector exports, at scrape time, what JetStream knows of the
// router's streams and their consumers: messages per stream (a growing
// DLQ) and each consumer's backlog (the lag of rule evaluation and of
// delivery). Every router reports the same numbers; dashboards take max.
// A scrape asks JetStream a few questions; answers are reused for
// jsCacheFor, so a fast poller (a benchmark reading /metrics every 50 ms)
// does not turn into load on the servers.
type jsCollector struct {
	js    jetstream.JetStream
	mu    sync.Mutex
	at    time.Time
	cache []prometheus.Metric
}

const jsCacheFor = 2 * time.Second

var (
	streamMsgsDesc = prometheus.NewDesc("aftershock_jetstream_stream_messages",
		"Messages stored in the stream (EVENTS, EVENTS_PARTITIONED, ALERTS, DLQ).", []string{"stream"}, nil)
	streamBytesDesc = prometheus.NewDesc("aftershock_jetstream_stream_bytes",
		"Bytes stored in the stream.", []string{"stream"}, nil)
	consumerPendingDesc = prometheus.NewDesc("aftershock_jetstream_consumer_pending_messages",
		"Messages of the stream the consumer has not been delivered yet: its lag.", []string{"stream", "consumer"}, nil)
	consumerAckPendingDesc = prometheus.NewDesc("aftershock_jetstream_consumer_ack_pending_messages",
		"Messages delivered to the consumer and not acknowledged yet (a lane acks in batches: up to 256 done events wait for one ack).", []string{"stream", "consumer"}, nil)
	scrapeErrorDesc = prometheus.NewDesc("aftershock_jetstream_scrape_error",
		"1 if JetStream could not be asked for stream and consumer state at this scrape.", nil, nil)
)

func (c *jsCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{streamMsgsDesc, streamBytesDesc, consumerPendingDesc, consumerAckPendingDesc, scrapeErrorDesc} {
		ch <- d
	}
}

func (c *jsCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if time.Since(c.at) >= jsCacheFor {
		c.cache, c.at = c.ask(), time.Now()
	}
	for _, m := range c.cache {
		ch <- m
	}
}

func (c *jsCollector) ask() []prometheus.Metric {
	var out []prometheus.Metric
	ch := func(m prometheus.Metric) { out = append(out, m) }
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	failed := 0.0
	for _, name := range []string{bus.StreamEvents, bus.StreamPartitioned, bus.StreamAlerts, bus.StreamDLQ} {
		s, err := c.js.Stream(ctx, name)
		if err != nil {
			if name != bus.StreamPartitioned { // exists only with --partitions
				failed = 1
			}
			continue
		}
		info := s.CachedInfo()
		ch(prometheus.MustNewConstMetric(streamMsgsDesc, prometheus.GaugeValue, float64(info.State.Msgs), name))
		ch(prometheus.MustNewConstMetric(streamBytesDesc, prometheus.GaugeValue, float64(info.State.Bytes), name))
		cl := s.ListConsumers(ctx)
		for ci := range cl.Info() {
			ch(prometheus.MustNewConstMetric(consumerPendingDesc, prometheus.GaugeValue, float64(ci.NumPending), name, ci.Name))
			ch(prometheus.MustNewConstMetric(consumerAckPendingDesc, prometheus.GaugeValue, float64(ci.NumAckPending), name, ci.Name))
		}
		if cl.Err() != nil {
			failed = 1
		}
	}
	ch(prometheus.MustNewConstMetric(scrapeErrorDesc, prometheus.GaugeValue, failed))
	return out
}

// firingCollector exports the firing alerts in ALERT_STATE per rule, so a
// dashboard and a Prometheus rule can see, say, how many nodes are silent
// (node-down) without reading ALERTS.
type firingCollector struct {
	state *dispatch.StateView
}

var firingDesc = prometheus.NewDesc("aftershock_alerts_firing",
	"Firing alerts in ALERT_STATE by rule, severity and timeline (live or drill).", []string{"rule", "severity", "timeline"}, nil)

func (c firingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- firingDesc }

func (c firingCollector) Collect(ch chan<- prometheus.Metric) {
	type key struct{ rule, severity, timeline string }
	n := map[key]float64{}
	c.state.Briefs(func(a dispatch.AlertBrief) {
		if a.State == alert.Firing {
			n[key{a.Rule, a.Severity, lane.Timeline(a.Drill)}]++
		}
	})
	for k, v := range n { // the registry sorts what it exposes
		ch <- prometheus.MustNewConstMetric(firingDesc, prometheus.GaugeValue, v, k.rule, k.severity, k.timeline)
	}
}

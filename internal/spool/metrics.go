package spool

import "github.com/prometheus/client_golang/prometheus"

// Register exports the spool's gauges and counters; they read Stats at
// scrape time, so publishing pays nothing for them.
func (s *Spool) Register(reg prometheus.Registerer) error {
	stat := func(f func(Stats) float64) func() float64 {
		return func() float64 { return f(s.Stats()) }
	}
	cs := []prometheus.Collector{
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "aftershock_spool_events", Help: "Events in the disk spool, waiting for NATS.",
		}, stat(func(st Stats) float64 { return float64(st.Events) })),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "aftershock_spool_bytes", Help: "Bytes of the disk spool's segment files.",
		}, stat(func(st Stats) float64 { return float64(st.Bytes) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "aftershock_spool_spooled_events_total", Help: "Events written to the spool because NATS could not take them.",
		}, stat(func(st Stats) float64 { return float64(st.Spooled) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "aftershock_spool_replayed_events_total", Help: "Spooled events published after NATS returned.",
		}, stat(func(st Stats) float64 { return float64(st.Replayed) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "aftershock_spool_dropped_events_total", Help: "Oldest spooled events dropped because the spool was full.",
		}, stat(func(st Stats) float64 { return float64(st.Dropped) })),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "aftershock_spool_rejected_events_total", Help: "Spooled events the server refused for good, or unreadable records, skipped.",
		}, stat(func(st Stats) float64 { return float64(st.Rejected) })),
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

package router

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/correlate"
)

// ruleMetrics are the rule engine's: reloads, rebuild, and a collector
// reading the engine's counters on each scrape.
type ruleMetrics struct {
	reloads        *prometheus.CounterVec
	reloadOK       prometheus.Gauge
	rebuildEvents  prometheus.Counter
	rebuildSeconds prometheus.Gauge
}

func newRuleMetrics(reg prometheus.Registerer) ruleMetrics {
	m := ruleMetrics{
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aftershock_router_rules_reloads_total",
			Help: "Rule reloads by outcome (success, failure); a failed reload keeps the previous rules running.",
		}, []string{"outcome"}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aftershock_router_rules_last_reload_success",
			Help: "1 if the last rules reload succeeded (or none was tried), 0 if the rules on disk are rejected.",
		}),
		rebuildEvents: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aftershock_router_rebuild_events_total",
			Help: "Events read back from EVENTS at start to rebuild window state.",
		}),
		rebuildSeconds: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aftershock_router_rebuild_seconds",
			Help: "How long the last start's window-state rebuild took.",
		}),
	}
	m.reloadOK.Set(1)
	reg.MustRegister(m.reloads, m.reloadOK, m.rebuildEvents, m.rebuildSeconds)
	return m
}

// engineCollector exports the engines' counters and state sizes: one
// engine, or a partitioned router's lanes' summed per rule. A lane's
// engine is replaced when the lane is rebuilt, so its counters restart,
// which Prometheus reads as a counter reset.
type engineCollector struct{ engines func() []laneEngine }

var (
	ruleEventsDesc = prometheus.NewDesc("aftershock_router_rule_events_total",
		"Events per rule by outcome: matched, late (outside the window on its timeline's clock; not evaluated), "+
			"eval_error (CEL runtime error: a non-match), overflow (dropped by limits.max_entries), "+
			"dropped_group (refused by limits.max_groups), stale (older than a state already judged), "+
			"duplicate (already in the window: a redelivery or a repeated replay).",
		[]string{"rule", "outcome"}, nil)
	ruleAlertsDesc = prometheus.NewDesc("aftershock_router_rule_transitions_total",
		"Alerts raised (firing) and resolved per rule, replays included.", []string{"rule", "state"}, nil)
	tlGroupsDesc  = prometheus.NewDesc("aftershock_router_timeline_groups", "Correlation groups held per timeline.", []string{"timeline"}, nil)
	tlRecordsDesc = prometheus.NewDesc("aftershock_router_timeline_records", "Window records held per timeline.", []string{"timeline"}, nil)
	tlFiringDesc  = prometheus.NewDesc("aftershock_router_timeline_firing", "Groups firing per timeline.", []string{"timeline"}, nil)
	tlClockDesc   = prometheus.NewDesc("aftershock_router_timeline_clock_seconds", "Event-time clock (largest event time) per timeline.", []string{"timeline"}, nil)
)

func (c engineCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{ruleEventsDesc, ruleAlertsDesc, tlGroupsDesc, tlRecordsDesc, tlFiringDesc, tlClockDesc} {
		ch <- d
	}
}

func (c engineCollector) Collect(ch chan<- prometheus.Metric) {
	s := correlate.Stats{Rules: map[string]correlate.RuleStats{}}
	for _, le := range c.engines() {
		es := le.e.Stats()
		for name, st := range es.Rules {
			sum := s.Rules[name]
			sum.Matched += st.Matched
			sum.Late += st.Late
			sum.EvalErrors += st.EvalErrors
			sum.Overflow += st.Overflow
			sum.DroppedGroups += st.DroppedGroups
			sum.Stale += st.Stale
			sum.Duplicates += st.Duplicates
			sum.Fired += st.Fired
			sum.Resolved += st.Resolved
			s.Rules[name] = sum
		}
		for _, tl := range es.Timelines {
			if le.lane != "" {
				tl.Name = le.lane + "/" + tl.Name
			}
			s.Timelines = append(s.Timelines, tl)
		}
	}
	for name, st := range s.Rules {
		for outcome, v := range map[string]int64{
			"matched": st.Matched, "late": st.Late, "eval_error": st.EvalErrors, "overflow": st.Overflow,
			"dropped_group": st.DroppedGroups, "stale": st.Stale, "duplicate": st.Duplicates,
		} {
			ch <- prometheus.MustNewConstMetric(ruleEventsDesc, prometheus.CounterValue, float64(v), name, outcome)
		}
		ch <- prometheus.MustNewConstMetric(ruleAlertsDesc, prometheus.CounterValue, float64(st.Fired), name, "firing")
		ch <- prometheus.MustNewConstMetric(ruleAlertsDesc, prometheus.CounterValue, float64(st.Resolved), name, "resolved")
	}
	for _, tl := range s.Timelines {
		ch <- prometheus.MustNewConstMetric(tlGroupsDesc, prometheus.GaugeValue, float64(tl.Groups), tl.Name)
		ch <- prometheus.MustNewConstMetric(tlRecordsDesc, prometheus.GaugeValue, float64(tl.Records), tl.Name)
		ch <- prometheus.MustNewConstMetric(tlFiringDesc, prometheus.GaugeValue, float64(tl.Firing), tl.Name)
		ch <- prometheus.MustNewConstMetric(tlClockDesc, prometheus.GaugeValue, float64(tl.Clock.UnixNano())/1e9, tl.Name)
	}
}

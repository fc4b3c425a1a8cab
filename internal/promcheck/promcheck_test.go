package promcheck_test

import (
	"slices"
	"testing"

	"github.com/aftershock/aftershock/internal/promcheck"
)

func TestMetricNames(t *testing.T) {
	for expr, want := range map[string][]string{
		`sum by (type) (rate(aftershock_collector_events_total{outcome="published"}[5m]))`:                                    {"aftershock_collector_events_total"},
		`histogram_quantile(0.99, sum by (receiver, le) (rate(aftershock_notify_delivery_seconds_bucket[$__rate_interval])))`: {"aftershock_notify_delivery_seconds_bucket"},
		`max(aftershock_alerts_firing{rule="node-down"}) or vector(0)`:                                                        {"aftershock_alerts_firing"},
		`a_metric > 0 and on(instance) up == 1 unless b offset 5m`:                                                            {"a_metric", "b", "up"},
		`label_replace(x, "dst", "$1", "src", "(.*)")`:                                                                        {"x"},
		`sum without (job) (increase(c_total[1h])) / ignoring(le) group_left(node) d`:                                         {"c_total", "d"},
	} {
		if got := promcheck.MetricNames(expr); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", expr, got, want)
		}
	}
}

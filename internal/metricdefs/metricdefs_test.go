package metricdefs_test

import (
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/aftershock/aftershock/internal/metricdefs"
)

// TestScanFindsKnownDefinitions: the scan sees the three ways metrics
// are defined here (an Opts literal, a helper wrapping one, a NewDesc
// with a concatenated help).
func TestScanFindsKnownDefinitions(t *testing.T) {
	defs, err := metricdefs.Scan("../..", "aftershock_")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]metricdefs.Def{}
	for _, d := range defs {
		if prev, dup := byName[d.Name]; dup && prev.Type != d.Type {
			t.Errorf("%s defined twice with different types: %s and %s", d.Name, prev.Pos, d.Pos)
		}
		byName[d.Name] = d
	}
	for name, typ := range map[string]string{
		"aftershock_router_events_total":       "counter",
		"aftershock_notify_delivery_seconds":   "histogram",
		"aftershock_spool_events":              "gauge",
		"aftershock_kmsg_records_total":        "counter",
		"aftershock_router_rule_events_total":  "counter",
		"aftershock_jetstream_stream_messages": "gauge",
	} {
		d, ok := byName[name]
		if !ok || d.Type != typ || d.Help == "" {
			t.Errorf("%s: %+v (found %v), want a %s with help", name, d, ok, typ)
		}
	}
	if d := byName["aftershock_router_rule_events_total"]; !strings.Contains(d.Help, "duplicate (already in the window") {
		t.Errorf("concatenated help not joined: %q", d.Help)
	}
}

// TestConventions lints every metric the module defines with promlint,
// Prometheus' own checker: base units, _total on counters only, no
// reserved suffixes, help present, snake case.
func TestConventions(t *testing.T) {
	defs, err := metricdefs.Scan("../..", "aftershock_")
	if err != nil {
		t.Fatal(err)
	}
	if len(defs) < 30 {
		t.Fatalf("scan found only %d metrics", len(defs))
	}
	types := map[string]dto.MetricType{"counter": dto.MetricType_COUNTER, "gauge": dto.MetricType_GAUGE,
		"histogram": dto.MetricType_HISTOGRAM, "summary": dto.MetricType_SUMMARY}
	var mfs []*dto.MetricFamily
	pos := map[string]string{}
	for _, d := range defs {
		mfs = append(mfs, &dto.MetricFamily{Name: proto.String(d.Name), Help: proto.String(d.Help), Type: types[d.Type].Enum()})
		pos[d.Name] = d.Pos
	}
	problems, err := promlint.NewWithMetricFamilies(mfs).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("%s (%s): %s", p.Metric, pos[p.Metric], p.Text)
	}
}

// TestDocumented: docs/metrics.md lists every metric.
func TestDocumented(t *testing.T) {
	defs, err := metricdefs.Scan("../..", "aftershock_")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := os.ReadFile("../../docs/metrics.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range defs {
		if !strings.Contains(string(doc), "`"+d.Name+"`") {
			t.Errorf("%s (%s) is not in docs/metrics.md", d.Name, d.Pos)
		}
	}
}

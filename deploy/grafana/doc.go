// Package grafana holds the Grafana dashboard of the aftershock pipeline
// (aftershock.json, docs/metrics.md); its test loads the dashboard and
// checks every query against the metrics the code defines and, when
// promtool is installed, against the real PromQL parser.
package grafana

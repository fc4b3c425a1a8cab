// Package prometheus holds the Prometheus alerting rules on the aftershock
// pipeline's own failures (aftershock.rules.yml) and their promtool unit
// tests; its Go test runs promtool and checks that the rules read metrics
// the code defines.
package prometheus

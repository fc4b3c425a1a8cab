// Package drills holds the recorded incidents of deploy/drills (one
// directory each: events.ndjson and a README with the alerts they must
// raise). It has no code: its tests replay the recordings through the
// rule engine and, end to end, with the real nats CLI onto a router.
package drills

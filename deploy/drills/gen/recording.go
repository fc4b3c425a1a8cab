package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// recording builds one drill file: events with deterministic ids in the
// order they would have been stored (event time; a crashed node's reboot
// is reported when it boots again, so its time is already the report time).
type recording struct {
	dir     string // directory under deploy/drills
	cluster string
	prefix  string // event id prefix
	events  []*event.Event
	rng     *rand.Rand
}

func newRecording(dir, cluster, prefix string, seed uint64) *recording {
	return &recording{dir: dir, cluster: cluster, prefix: prefix, rng: rand.New(rand.NewPCG(seed, 2020))}
}

// add records one event; ids are assigned when the file is written, in
// stored order.
func (r *recording) add(typ, node string, t time.Time, data any) {
	raw, err := json.Marshal(data)
	if err != nil {
		panic(fmt.Sprintf("%s: marshal %s: %v", r.dir, typ, err))
	}
	r.events = append(r.events, &event.Event{
		SpecVersion: event.SpecVersion, Source: "aftershock/collector/" + node, Type: typ,
		Time: t.UTC(), Subject: node, DataContentType: "application/json",
		Cluster: r.cluster, Node: node, Data: raw,
	})
}

// ndjson sorts by time (stable: events of one instant keep the order they
// were added), numbers the ids and encodes one event per line.
func (r *recording) ndjson() ([]byte, error) {
	slices.SortStableFunc(r.events, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
	var b bytes.Buffer
	for i, ev := range r.events {
		ev.ID = fmt.Sprintf("%s-%05d", r.prefix, i+1)
		if err := ev.Validate(); err != nil {
			return nil, fmt.Errorf("%s: event %d: %w", r.dir, i+1, err)
		}
		line, err := ev.Encode()
		if err != nil {
			return nil, fmt.Errorf("%s: event %d: %w", r.dir, i+1, err)
		}
		b.Write(line)
		b.WriteByte('\n')
	}
	return b.Bytes(), nil
}

// between is a deterministic value in [lo, hi].
func (r *recording) between(lo, hi int) int { return lo + r.rng.IntN(hi-lo+1) }

// jitter is a deterministic duration in [0, d).
func (r *recording) jitter(d time.Duration) time.Duration {
	return time.Duration(r.rng.Int64N(int64(d)))
}

// heartbeats adds node.heartbeat every interval in [from, to) and returns
// the time of the last one.
func (r *recording) heartbeats(node, boot string, bootTime, from, to time.Time, interval time.Duration) time.Time {
	var last time.Time
	for t := from; t.Before(to); t = t.Add(interval) {
		r.add(event.TypeHeartbeat, node, t, event.Heartbeat{
			BootID: boot, UptimeSeconds: t.Sub(bootTime).Seconds(), IntervalSecs: interval.Seconds(), Version: "v0.1.0",
		})
		last = t
	}
	return last
}

// dnsOutage adds what one node's DNS prober publishes while server fails a
// share of its probes from start to end: the first failure at once, then
// one rollup a minute, then dns.recovered. Probes run every 5s.
func (r *recording) dnsOutage(node, server, name string, start, end time.Time, failPct int) int {
	first := start.Add(r.jitter(5 * time.Second))
	d := event.DNSFailure{Server: server, Name: name, Transport: "udp", TimeoutMS: 2000, Count: 1, First: first, Last: first, WorstLatencyMS: 2000}
	r.add(event.TypeDNSTimeout, node, first, d)
	total := 1
	for from := first; from.Before(end); from = from.Add(time.Minute) {
		to := from.Add(time.Minute)
		if to.After(end) {
			to = end
		}
		n := 0
		var last time.Time
		for t := from.Add(5 * time.Second); t.Before(to); t = t.Add(5 * time.Second) {
			if r.rng.IntN(100) < failPct {
				n++
				last = t
			}
		}
		if n == 0 {
			continue
		}
		total += n
		d := event.DNSFailure{Server: server, Name: name, Transport: "udp", TimeoutMS: 2000, Count: n,
			First: from.Add(5 * time.Second), Last: last, WorstLatencyMS: 2000}
		r.add(event.TypeDNSTimeout, node, last, d)
	}
	r.add(event.TypeDNSRecovered, node, end.Add(r.jitter(5*time.Second)), event.DNSRecovered{
		Server: server, Name: name, Transport: "udp", DownSince: first, Failures: total,
	})
	return total
}

// meminfo is a 16 GB node's /proc/meminfo with availPct available, 80% of
// it page cache as in the 2020-06 graphs.
func meminfo(availPct int) *event.Meminfo {
	const total = 16266500
	avail := int64(total * availPct / 100)
	return &event.Meminfo{
		MemTotalKB: total, MemFreeKB: avail / 5, MemAvailableKB: avail,
		CachedKB: total * 80 / 100, BuffersKB: 412000, SwapFreeKB: 0,
	}
}

// hosts are the node names prefix+from … prefix+to (IP addresses in a
// subnet).
func hosts(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

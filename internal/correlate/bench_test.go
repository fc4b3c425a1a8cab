package correlate

import (
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// benchRules writes n rules over n/5 application event types, so each type
// is matched by 5 rules: per type, one event rule narrowed by data (its
// match is evaluated), two window thresholds, one sequence and one absence.
func benchRules(n int) string {
	var b strings.Builder
	b.WriteString("rules:\n")
	for i := range n {
		typ := fmt.Sprintf("bench.t%d", i/5)
		next := fmt.Sprintf("bench.t%d", (i/5+1)%(max(n/5, 1)))
		name := fmt.Sprintf("r%d", i)
		switch i % 5 {
		case 0:
			fmt.Fprintf(&b, "  - {name: %s, severity: info, summary: s, match: 'event.type == %q && event.data.level == \"never\"'}\n", name, typ)
		case 1:
			fmt.Fprintf(&b, "  - {name: %s, severity: info, summary: s, match: 'event.type == %q', group_by: [event.cluster], window: 1m, condition: 'window.count() >= 1000000'}\n", name, typ)
		case 2:
			fmt.Fprintf(&b, "  - {name: %s, severity: info, summary: s, match: 'event.type == %q', group_by: [event.cluster, event.node], window: 5m, condition: 'window.nodes() >= 1000000'}\n", name, typ)
		case 3:
			fmt.Fprintf(&b, "  - {name: %s, severity: info, summary: s, match: 'event.type in [%q, %q]', group_by: [event.cluster], window: 10m, condition: 'window.followed_by([%q], [%q]) >= 1000000'}\n", name, typ, next, next, typ)
		case 4:
			fmt.Fprintf(&b, "  - {name: %s, severity: info, summary: s, match: 'event.type == %q', group_by: [event.cluster, event.node], absent_for: 1h}\n", name, typ)
		}
	}
	return b.String()
}

// benchEvents makes n events of the given types over nodes, 1ms apart.
func benchEvents(n int, types []string, nodes int) []*event.Event {
	evs := make([]*event.Event, n)
	data, _ := json.Marshal(map[string]any{"level": "info", "count": 1})
	for i := range evs {
		node := fmt.Sprintf("node-%04d", i%nodes)
		evs[i] = &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("b%08d", i), Source: "bench", Type: types[i%len(types)],
			Time: t0.Add(time.Duration(i) * time.Millisecond), Cluster: fmt.Sprintf("c%d", i%4), Node: node, Subject: node, Data: data}
	}
	return evs
}

// run feeds evs b.N times in total, moving them forward in time each lap
// so they are never late.
func run(b *testing.B, e *Engine, evs []*event.Event) {
	b.Helper()
	span := evs[len(evs)-1].Time.Sub(evs[0].Time) + time.Millisecond
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		x := evs[i%len(evs)]
		if i > 0 && i%len(evs) == 0 {
			b.StopTimer()
			for _, y := range evs {
				y.Time = y.Time.Add(span)
			}
			b.StartTimer()
		}
		e.Process(x, Meta{})
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEngine: decoded events through the engine alone.
//   - unmatched: no rule's type index accepts the event (heartbeats, say):
//     the zero-allocation path.
//   - matched5: every event is matched by 5 rules (an event rule whose
//     match reads data, two windows, a sequence, an absence).
func BenchmarkEngine(b *testing.B) {
	for _, n := range []int{10, 100, 1000} {
		set := compile(b, benchRules(n))
		b.Run(fmt.Sprintf("unmatched/rules=%d", n), func(b *testing.B) {
			e := New(set, quiet(), Options{})
			run(b, e, benchEvents(100_000, []string{"node.heartbeat"}, 500))
		})
		b.Run(fmt.Sprintf("matched5/rules=%d", n), func(b *testing.B) {
			e := New(set, quiet(), Options{})
			types := make([]string, n/5)
			for i := range types {
				types[i] = fmt.Sprintf("bench.t%d", i)
			}
			run(b, e, benchEvents(100_000, types, 500))
		})
	}
}

// BenchmarkEnginePack: the shipped rule pack on the event mix of a quiet
// cluster: heartbeats, DNS probes and postures, with a few timeouts.
func BenchmarkEnginePack(b *testing.B) {
	set, err := rule.LoadDir("../../rules", rule.CheckOptions{})
	if err != nil {
		b.Fatal(err)
	}
	e := New(set, quiet(), Options{})
	types := []string{"node.heartbeat", "node.heartbeat", "node.heartbeat", "dns.probe", "node.heartbeat", "node.heartbeat", "dns.probe", "node.heartbeat", "node.heartbeat", "dns.timeout"}
	run(b, e, benchEvents(100_000, types, 500))
}

// BenchmarkBurst: 50,000 dns.timeout events within one minute from 5,000
// nodes of one cluster, through the shipped rule pack, after a crash that
// the timeouts follow. Reports time per burst and the heap the window state
// holds afterwards.
func BenchmarkBurst(b *testing.B) {
	set, err := rule.LoadDir("../../rules", rule.CheckOptions{})
	if err != nil {
		b.Fatal(err)
	}
	const n, nodes = 50_000, 5_000
	mk := func(lap int) []*event.Event {
		base := t0.Add(time.Duration(lap) * time.Hour)
		evs := make([]*event.Event, 0, n+1)
		evs = append(evs, &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("reboot-%d", lap), Source: "bench", Type: "node.reboot",
			Time: base.Add(2 * time.Minute), Cluster: "prod", Node: "node-crashed",
			Data: fmt.Appendf(nil, `{"clean":false,"cause":"kernel_bug","cause_detail":"kernel BUG at include/linux/fs.h:2582!","last_heartbeat":%q}`, base.Format(time.RFC3339Nano))})
		for i := range n {
			node := fmt.Sprintf("node-%04d", i%nodes)
			at := base.Add(time.Duration(i) * time.Minute / n)
			evs = append(evs, &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("t%d-%d", lap, i), Source: "bench", Type: "dns.timeout",
				Time: at, Cluster: "prod", Node: node,
				Data: fmt.Appendf(nil, `{"server":"10.96.0.10","name":"kubernetes.default","transport":"udp","timeout_ms":2000,"count":1,"first":%q,"last":%q}`, at.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))})
		}
		return evs
	}
	var before, after runtime.MemStats
	var alerts int
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		evs := mk(i)
		e := New(set, quiet(), Options{})
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		for _, x := range evs {
			alerts += len(e.Process(x, Meta{}))
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		runtime.KeepAlive(e)
		b.StartTimer()
	}
	b.ReportMetric(float64(after.HeapAlloc)-float64(before.HeapAlloc), "retained-B")
	b.ReportMetric(float64(b.N*(n+1))/b.Elapsed().Seconds(), "events/s")
	if alerts == 0 {
		b.Fatal("the burst raised no alert")
	}
}

// BenchmarkRaise: every event raises an alert (the shipped pack's
// pipeline-test rule, one alert per event id): the cost of building an
// alert, its template data and its text, as in an alert storm.
func BenchmarkRaise(b *testing.B) {
	set, err := rule.LoadDir("../../rules", rule.CheckOptions{})
	if err != nil {
		b.Fatal(err)
	}
	e := New(set, quiet(), Options{})
	evs := benchEvents(100_000, []string{"aftershock.test"}, 500)
	for _, x := range evs {
		x.Data = []byte(`{"message":"hello from the storm"}`)
	}
	b.ReportAllocs()
	run(b, e, evs)
}

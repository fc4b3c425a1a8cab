package correlate_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/correlate/ruletest"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// step is one input of the engine: an event, or (ev nil) a tick of the
// live clock.
type step struct {
	ev   *event.Event
	meta correlate.Meta
	tick time.Time
}

var now0 = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

func newEngine(set *rule.Set) *correlate.Engine {
	return correlate.New(set, quietLog(), correlate.Options{Now: func() time.Time { return now0 }})
}

func run(e *correlate.Engine, s step) []*alert.Alert {
	if s.ev == nil {
		return e.Advance(s.tick)
	}
	return e.Process(s.ev, s.meta)
}

// encodeAlerts is what a step published, as ALERTS would store it.
func encodeAlerts(tb testing.TB, as []*alert.Alert) string {
	tb.Helper()
	var b strings.Builder
	for _, a := range as {
		j, err := a.Encode()
		if err != nil {
			tb.Fatal(err)
		}
		b.Write(j)
		b.WriteByte('\n')
	}
	return b.String()
}

func roundTrip(tb testing.TB, s *correlate.Snapshot) ([]byte, *correlate.Snapshot) {
	tb.Helper()
	var buf bytes.Buffer
	if err := s.Encode(&buf); err != nil {
		tb.Fatal(err)
	}
	d, err := correlate.DecodeSnapshot(bytes.NewReader(buf.Bytes()))
	if err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes(), d
}

// checkEquivalent is the snapshot's contract: an engine restored from a
// snapshot taken after any step raises, on the steps after it, exactly
// what the uninterrupted engine raises (same ids, same text, same order).
// It also checks that a snapshot of the restored engine encodes to the
// same bytes (nothing lost or reordered), and that an engine that read the
// steps before the cut as a replay (Meta.Replay, what a rebuild does)
// holds the same state as one that evaluated them.
func checkEquivalent(t *testing.T, set *rule.Set, steps []step, cuts []int) (alerts int) {
	t.Helper()
	ref := newEngine(set)
	replayed := newEngine(set)
	outs := make([]string, len(steps))
	snaps := map[int][]byte{}
	for i, s := range steps {
		if slices.Contains(cuts, i) {
			b, _ := roundTrip(t, ref.Snapshot())
			snaps[i] = b
			rb, _ := roundTrip(t, replayed.Snapshot())
			if !bytes.Equal(rb, b) {
				t.Fatalf("cut %d: state after a silent replay differs from state after evaluation", i)
			}
		}
		got := run(ref, s)
		alerts += len(got)
		outs[i] = encodeAlerts(t, got)
		if s.ev != nil {
			m := s.meta
			m.Replay = true
			replayed.Process(s.ev, m)
		} else {
			replayed.Advance(s.tick)
		}
	}
	for _, k := range cuts {
		d, err := correlate.DecodeSnapshot(bytes.NewReader(snaps[k]))
		if err != nil {
			t.Fatal(err)
		}
		e, err := correlate.Restore(set, quietLog(), correlate.Options{Now: func() time.Time { return now0 }}, d)
		if err != nil {
			t.Fatalf("cut %d: restore: %v", k, err)
		}
		if again, _ := roundTrip(t, e.Snapshot()); !bytes.Equal(again, snaps[k]) {
			t.Fatalf("cut %d: the restored engine's snapshot differs from the one it was restored from (%d vs %d bytes)", k, len(again), len(snaps[k]))
		}
		for i := k; i < len(steps); i++ {
			if got := encodeAlerts(t, run(e, steps[i])); got != outs[i] {
				t.Fatalf("cut %d, step %d (%s): restored engine raised\n%s\nuninterrupted engine raised\n%s", k, i, describe(steps[i]), got, outs[i])
			}
		}
	}
	return alerts
}

func describe(s step) string {
	if s.ev == nil {
		return "tick " + s.tick.Format(time.RFC3339)
	}
	return fmt.Sprintf("%s %s %s drill=%v", s.ev.Type, s.ev.Node, s.ev.Time.Format(time.RFC3339Nano), s.meta.Drill)
}

func every(n, stride int) []int {
	var out []int
	for i := 0; i < n; i += stride {
		out = append(out, i)
	}
	return append(out, n-1)
}

func pack(tb testing.TB) *rule.Set {
	tb.Helper()
	set, err := rule.LoadDir("../../rules", rule.CheckOptions{})
	if err != nil {
		tb.Fatal(err)
	}
	return set
}

// TestSnapshotEquivalentOnPackTests cuts every test of the shipped pack's
// rules tests after every input (every few inputs in the long ones).
func TestSnapshotEquivalentOnPackTests(t *testing.T) {
	set := pack(t)
	files, err := ruletest.Files("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := ruletest.Parse(path, b)
		if err != nil {
			t.Fatal(err)
		}
		for ti, tc := range f.Tests {
			t.Run(filepath.Base(path)+"/"+tc.Name, func(t *testing.T) {
				start := f.Start
				if !tc.Start.IsZero() {
					start = tc.Start
				}
				in, err := ruletest.Steps(f, ti, start)
				if err != nil {
					t.Fatal(err)
				}
				steps := make([]step, len(in))
				for i, s := range in {
					steps[i] = step{ev: s.Event, meta: correlate.Meta{Drill: s.Drill}, tick: s.Tick}
				}
				total += checkEquivalent(t, set, steps, every(len(steps), max(1, len(steps)/12)))
			})
		}
	}
	if total == 0 {
		t.Fatal("the pack's tests raised no alerts: nothing was compared")
	}
}

// drillSteps reads the recorded drills and lays them one after another on
// the live timeline (with arrival times and a tick of the clock every 40
// events), then replays two of them as drills, one twice (two runs).
func drillSteps(tb testing.TB) []step {
	tb.Helper()
	dirs, err := filepath.Glob("../../deploy/drills/*/events.ndjson")
	if err != nil || len(dirs) == 0 {
		tb.Fatalf("no drills: %v", err)
	}
	slices.Sort(dirs)
	var steps []step
	at := now0
	var arrival time.Time
	read := func(path string) []*event.Event {
		fh, err := os.Open(path)
		if err != nil {
			tb.Fatal(err)
		}
		defer fh.Close()
		var evs []*event.Event
		sc := bufio.NewScanner(fh)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			ev, err := event.Decode(sc.Bytes())
			if err != nil {
				tb.Fatalf("%s: %v", path, err)
			}
			evs = append(evs, ev)
		}
		return evs
	}
	for _, path := range dirs {
		evs := read(path)
		shift := at.Sub(evs[0].Time)
		for i, ev := range evs {
			ev.Time = ev.Time.Add(shift)
			arrival = maxTime(arrival.Add(time.Millisecond), ev.Time)
			steps = append(steps, step{ev: ev, meta: correlate.Meta{Arrival: arrival}})
			at = maxTime(at, ev.Time)
			if i%40 == 39 {
				steps = append(steps, step{tick: arrival.Add(15 * time.Second)})
			}
		}
		at = at.Add(time.Hour)
		arrival = at
		steps = append(steps, step{tick: at})
	}
	for _, name := range []string{"conntrack-full", "node-silent", "conntrack-full"} {
		for _, ev := range read("../../deploy/drills/" + name + "/events.ndjson") {
			arrival = arrival.Add(10 * time.Millisecond)
			steps = append(steps, step{ev: ev, meta: correlate.Meta{Drill: true, Arrival: arrival}})
		}
		arrival = arrival.Add(time.Hour) // a new drill run
	}
	return steps
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// TestSnapshotEquivalentOnDrills cuts the recorded incidents, live and as
// drills, at 25 places.
func TestSnapshotEquivalentOnDrills(t *testing.T) {
	steps := drillSteps(t)
	if n := checkEquivalent(t, pack(t), steps, every(len(steps), len(steps)/25)); n < 50 {
		t.Fatalf("only %d alerts raised: the drills did not exercise the pack", n)
	}
}

func compile(tb testing.TB, yml string) *rule.Set {
	tb.Helper()
	env, err := rule.SharedEnv()
	if err != nil {
		tb.Fatal(err)
	}
	f, probs := rule.Parse("test.yaml", []byte(yml))
	if len(probs) > 0 {
		tb.Fatalf("parse: %v", probs)
	}
	set, probs := rule.Compile(env, &rule.Pack{Rules: f.Rules, Tables: f.Tables}, rule.CheckOptions{})
	if len(probs) > 0 {
		tb.Fatalf("compile: %v", probs)
	}
	set.Version = "test"
	return set
}

// edgeRules exercise what the pack does not: more than 64 event types in
// one window (no per-node masks), max_entries overflow, absence with
// forget_after, a rule on another rule's alerts.
const edgeRules = `rules:
  - name: wide
    severity: info
    summary: '{{ .window.events }} events of {{ .window.nodes }} nodes'
    match: event.type.startsWith("x.")
    group_by: [event.cluster]
    window: 5m
    condition: window.nodes(["x.t1", "x.t70"]) >= 2 && window.events() >= 10
  - name: capped
    severity: info
    summary: capped
    match: event.type.startsWith("x.")
    group_by: [event.cluster, event.node]
    window: 10m
    limits: {max_entries: 5, evidence: 2}
    condition: window.count() >= 5
  - name: silent
    severity: warning
    summary: '{{ .key.node }} silent'
    match: event.type == "node.heartbeat"
    group_by: [event.cluster, event.node]
    absent_for: 1m
    forget_after: 5m
  - name: silent-many
    severity: critical
    summary: many silent
    match: event.type == "aftershock.alert" && event.data.rule == "silent" && event.data.state == "firing"
    group_by: [event.cluster]
    window: 10m
    condition: window.nodes() >= 2
`

// edgeSteps: 4 nodes sending heartbeats and x.* events of 80 types; two
// nodes fall silent for a while, one for good.
func edgeSteps() []step {
	var steps []step
	n := 0
	for sec := 0; sec < 900; sec += 5 {
		at := now0.Add(time.Duration(sec) * time.Second)
		for node := range 4 {
			name := fmt.Sprintf("n%d", node)
			silent := node == 1 && sec > 200 && sec < 500 || node == 2 && sec > 300
			if silent {
				continue
			}
			n++
			steps = append(steps, step{ev: &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("h%d", n), Source: "t", Type: event.TypeHeartbeat,
				Time: at, Cluster: "c", Node: name, Data: []byte(`{"boot_id":"b","uptime_seconds":1,"interval_seconds":5}`)}, meta: correlate.Meta{Arrival: at}})
			n++
			steps = append(steps, step{ev: &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("x%d", n), Source: "t", Type: fmt.Sprintf("x.t%d", (n*7)%80),
				Time: at.Add(-time.Duration(n%3) * time.Second), Cluster: "c", Node: name}, meta: correlate.Meta{Arrival: at}})
		}
		if sec%60 == 0 {
			steps = append(steps, step{tick: at.Add(2 * time.Second)})
		}
	}
	return steps
}

func TestSnapshotEquivalentOnEdges(t *testing.T) {
	steps := edgeSteps()
	if n := checkEquivalent(t, compile(t, edgeRules), steps, every(len(steps), len(steps)/50)); n == 0 {
		t.Fatal("no alerts raised")
	}
}

// TestSnapshotAfterReload: a reload leaves dead rule states and stale
// timers behind; the snapshot taken after it restores under the new set.
func TestSnapshotAfterReload(t *testing.T) {
	steps := edgeSteps()
	old := compile(t, edgeRules)
	next := compile(t, strings.Replace(edgeRules, "limits: {max_entries: 5, evidence: 2}", "limits: {max_entries: 6, evidence: 2}", 1))
	half := len(steps) / 2
	ref := newEngine(old)
	for _, s := range steps[:half] {
		run(ref, s)
	}
	if got := ref.Swap(next); len(got) == 0 {
		t.Fatal("the reload resolved nothing: the changed rule was not firing")
	}
	var outs []string
	snaps := map[int][]byte{}
	cuts := every(len(steps)-half, (len(steps)-half)/10)
	for i, s := range steps[half:] {
		if slices.Contains(cuts, i) {
			snaps[i], _ = roundTrip(t, ref.Snapshot())
		}
		outs = append(outs, encodeAlerts(t, run(ref, s)))
	}
	for _, k := range cuts {
		d, _ := correlate.DecodeSnapshot(bytes.NewReader(snaps[k]))
		e, err := correlate.Restore(next, quietLog(), correlate.Options{Now: func() time.Time { return now0 }}, d)
		if err != nil {
			t.Fatal(err)
		}
		for i := k; i < len(outs); i++ {
			if got := encodeAlerts(t, run(e, steps[half+i])); got != outs[i] {
				t.Fatalf("cut %d step %d: got\n%s\nwant\n%s", k, i, got, outs[i])
			}
		}
	}
}

func TestRestoreRefuses(t *testing.T) {
	set := compile(t, edgeRules)
	e := newEngine(set)
	for _, s := range edgeSteps()[:200] {
		run(e, s)
	}
	good, _ := roundTrip(t, e.Snapshot())
	changed := compile(t, strings.Replace(edgeRules, "absent_for: 1m", "absent_for: 2m", 1))
	added := compile(t, edgeRules+"  - {name: extra, severity: info, summary: s, match: 'true'}\n")
	removed := compile(t, edgeRules[:strings.Index(edgeRules, "  - name: silent-many")])
	restore := func(set *rule.Set, b []byte) error {
		d, err := correlate.DecodeSnapshot(bytes.NewReader(b))
		if err != nil {
			return err
		}
		_, err = correlate.Restore(set, quietLog(), correlate.Options{}, d)
		return err
	}
	for _, tc := range []struct {
		name string
		set  *rule.Set
		data []byte
		want error // nil: restores
	}{
		{"same rules", set, good, nil},
		{"a rule removed: its state is left out", removed, good, nil},
		{"a rule's state key changed", changed, good, correlate.ErrSnapshotRules},
		{"a rule added", added, good, correlate.ErrSnapshotRules},
		{"empty", set, nil, correlate.ErrSnapshotFormat},
		{"not a snapshot", set, []byte(`{"rules":[]}`), correlate.ErrSnapshotFormat},
		{"truncated", set, good[:len(good)/2], correlate.ErrSnapshotFormat},
		{"another format", set, append([]byte("aftershock-windows/9\n"), good[len("aftershock-windows/1\n"):]...), correlate.ErrSnapshotFormat},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := restore(tc.set, tc.data)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

// BenchmarkSnapshot: a fleet's window state (see fleetState) taken,
// encoded, decoded and restored.
func BenchmarkSnapshot(b *testing.B) {
	set := pack(b)
	e := newEngine(set)
	for _, s := range fleetSteps(200_000) {
		run(e, s)
	}
	var buf bytes.Buffer
	if err := e.Snapshot().Encode(&buf); err != nil {
		b.Fatal(err)
	}
	size := buf.Len()
	b.Run("take+encode", func(b *testing.B) {
		for b.Loop() {
			if err := e.Snapshot().Encode(io.Discard); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size)/1e6, "MB")
	})
	b.Run("take", func(b *testing.B) {
		for b.Loop() {
			e.Snapshot()
		}
	})
	b.Run("decode+restore", func(b *testing.B) {
		for b.Loop() {
			d, err := correlate.DecodeSnapshot(bytes.NewReader(buf.Bytes()))
			if err != nil {
				b.Fatal(err)
			}
			if _, err := correlate.Restore(set, quietLog(), correlate.Options{}, d); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(size)/1e6, "MB")
	})
}

// fleetSteps: n events of 500 nodes in 5 clusters over the last 15
// minutes: heartbeats, DNS probe summaries, DNS timeouts (as in the
// router's benchmarks), and a posture per node.
func fleetSteps(n int) []step {
	steps := make([]step, 0, n)
	start := now0.Add(-15 * time.Minute)
	for i := range n {
		node := fmt.Sprintf("node-%03d", i%500)
		at := start.Add(time.Duration(i) * 15 * time.Minute / time.Duration(n))
		typ, data := event.TypeHeartbeat, `{"boot_id":"281c2a66-2bb2-4274-b979-e1f50cc56fd0","uptime_seconds":86400.5,"interval_seconds":10,"collector_version":"bench"}`
		switch {
		case i < 500:
			typ, data = event.TypePosture, `{"boot_id":"281c2a66-2bb2-4274-b979-e1f50cc56fd0","kernel_release":"5.15.0-91-generic","os":"Ubuntu 22.04","arch":"amd64","kdump":{"ready":true}}`
		case i%10 == 7:
			typ, data = event.TypeDNSProbe, `{"interval_seconds":60,"servers":[{"server":"10.96.0.10","transport":"udp","ok":60,"failed":0,"p50_ms":0.4,"p99_ms":2.1}]}`
		case i%10 == 9:
			typ, data = event.TypeDNSTimeout, fmt.Sprintf(`{"server":"10.96.0.10","name":"kubernetes.default","transport":"udp","timeout_ms":2000,"count":1,"first":%q,"last":%q}`, at.Format(time.RFC3339Nano), at.Format(time.RFC3339Nano))
		}
		ev := &event.Event{SpecVersion: "1.0", ID: fmt.Sprintf("01FLEET%018d", i), Source: "aftershock/collector/" + node,
			Type: typ, Time: at, Subject: node, Cluster: fmt.Sprintf("c%02d", i%5), Node: node, Data: json.RawMessage(data)}
		steps = append(steps, step{ev: ev, meta: correlate.Meta{Arrival: at}})
	}
	return steps
}

// TestSnapshotWhileEvaluating takes and encodes snapshots while events are
// evaluated (run with -race: encoding happens outside the engine's lock,
// on what the snapshot shares with the engine).
func TestSnapshotWhileEvaluating(t *testing.T) {
	set := pack(t)
	e := newEngine(set)
	steps := drillSteps(t)
	done := make(chan struct{})
	taken := make(chan int)
	go func() {
		n := 0
		defer func() { taken <- n }()
		for {
			select {
			case <-done:
				return
			default:
			}
			if err := e.Snapshot().Encode(io.Discard); err != nil {
				t.Error(err)
				return
			}
			n++
		}
	}()
	for _, s := range steps {
		run(e, s)
	}
	close(done)
	if n := <-taken; n == 0 {
		t.Fatal("no snapshot taken while evaluating")
	}
}

// Package ruletest runs rule unit tests: YAML files named *_test.yaml next
// to the rules, in the spirit of promtool's `test rules`. Input events are
// fed at relative event times, in the order written (an event written after
// a later one is a late arrival), through the same engine the router runs;
// the alerts raised are compared with the expected ones and a readable diff
// is printed on failure.
package ruletest

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/duration"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
	"github.com/aftershock/aftershock/internal/yamlfile"
)

// File is one test file.
type File struct {
	// Start is the time +0s stands for; default 2020-06-14T13:00:00Z.
	Start    time.Time `yaml:"start"`
	Defaults Defaults  `yaml:"defaults"`
	Tests    []Test    `yaml:"tests"`
}

// Defaults fill event fields a test leaves out.
type Defaults struct {
	Cluster string `yaml:"cluster"`
	Node    string `yaml:"node"`
}

// Test is one scenario.
type Test struct {
	Name  string    `yaml:"name"`
	Start time.Time `yaml:"start"`
	// Drill feeds the events on the drill timeline.
	Drill  bool    `yaml:"drill"`
	Events []Input `yaml:"events"`
	// Rules limits the comparison to these rules' alerts; default: all.
	Rules  []string `yaml:"rules"`
	Expect []Expect `yaml:"expect"`

	line int
}

// Input is an event at a relative time, or a tick of the live clock.
type Input struct {
	At      Offset         `yaml:"at"`
	Tick    Offset         `yaml:"tick"`
	Type    string         `yaml:"type"`
	Cluster string         `yaml:"cluster"`
	Node    string         `yaml:"node"`
	ID      string         `yaml:"id"`
	Data    map[string]any `yaml:"data"`
	// Repeat copies the event Repeat times, Every apart; Nodes copies it
	// once per node (both together: every node, every time).
	Repeat int           `yaml:"repeat"`
	Every  rule.Duration `yaml:"every"`
	Nodes  []string      `yaml:"nodes"`

	line int
}

// Expect is one expected alert.
type Expect struct {
	Rule  string `yaml:"rule"`
	State string `yaml:"state"` // firing (default) or resolved
	// At is StartsAt for firing, EndsAt for resolved; unset: any time.
	At     *Offset           `yaml:"at"`
	Labels map[string]string `yaml:"labels"`
	// Summary must equal the summary; SummaryContains must each be in it.
	Summary         string            `yaml:"summary"`
	SummaryContains []string          `yaml:"summary_contains"`
	DetailsContains []string          `yaml:"details_contains"`
	Annotations     map[string]string `yaml:"annotations"` // substrings; "" means none
	// Title must equal the alert's headline (the rule's title).
	Title string `yaml:"title"`
	// Since is when the alert says it began (the rule's since).
	Since *Offset `yaml:"since"`
	// Update is which update of a firing alert (0: the first page).
	Update int `yaml:"update"`
	// ChangeContains must each be in one of the update's change notes;
	// Significant says the update is news that is sent at once.
	ChangeContains []string `yaml:"change_contains"`
	Significant    *bool    `yaml:"significant"`

	line int
}

// Offset is "+90s" (relative to the test's start) or an RFC 3339 time.
type Offset struct {
	Rel   time.Duration
	Abs   time.Time
	IsSet bool
}

// UnmarshalYAML parses +DURATION, -DURATION or an RFC 3339 time.
func (o *Offset) UnmarshalYAML(n *yaml.Node) error {
	s := strings.TrimSpace(n.Value)
	o.IsSet = true
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		o.Abs = t
		return nil
	}
	neg := strings.HasPrefix(s, "-")
	d, err := duration.Parse(strings.TrimLeft(s, "+-"))
	if err != nil {
		return fmt.Errorf("line %d: time %q: want +DURATION (e.g. +90s) or RFC 3339", n.Line, s)
	}
	if neg {
		d = -d
	}
	o.Rel = d
	return nil
}

// Time resolves the offset against start.
func (o Offset) Time(start time.Time) time.Time {
	if !o.Abs.IsZero() {
		return o.Abs
	}
	return start.Add(o.Rel)
}

// DefaultStart is +0s when a file does not say.
var DefaultStart = time.Date(2020, 6, 14, 13, 0, 0, 0, time.UTC)

// Result is one test's outcome.
type Result struct {
	Pos    string // file:line
	Name   string
	Diff   string // empty when passed
	Alerts []*alert.Alert
	Start  time.Time
}

// Passed reports whether the test passed.
func (r Result) Passed() bool { return r.Diff == "" }

// Files lists the test files under dir, sorted.
func Files(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(p, "_test.yaml") || strings.HasSuffix(p, "_test.yml")) {
			files = append(files, p)
		}
		return nil
	})
	slices.Sort(files)
	return files, err
}

// Parse reads one test file strictly.
func Parse(path string, b []byte) (*File, error) {
	var f File
	root, probs := yamlfile.Decode(path, b, &f)
	if len(probs) > 0 {
		return nil, probs
	}
	locate(&f, root)
	if f.Start.IsZero() {
		f.Start = DefaultStart
	}
	for i, t := range f.Tests {
		pos := fmt.Sprintf("%s:%d", path, t.line)
		if t.Name == "" {
			return nil, fmt.Errorf("%s: test %d has no name", pos, i+1)
		}
		for _, in := range t.Events {
			if in.Tick.IsSet == (in.Type != "") || in.Tick.IsSet && in.At.IsSet {
				return nil, fmt.Errorf("%s:%d: an input is either an event (type, at) or a tick", path, in.line)
			}
			if in.Type != "" && !in.At.IsSet {
				return nil, fmt.Errorf("%s:%d: event %s needs at", path, in.line, in.Type)
			}
			if in.Tick.IsSet && t.Drill {
				return nil, fmt.Errorf("%s:%d: tick advances the live clock only; drills advance by their events", path, in.line)
			}
		}
		for _, x := range t.Expect {
			if x.Rule == "" {
				return nil, fmt.Errorf("%s:%d: expected alert needs rule", path, x.line)
			}
			if x.State != "" && x.State != string(alert.Firing) && x.State != string(alert.Resolved) {
				return nil, fmt.Errorf("%s:%d: state %q: firing or resolved", path, x.line, x.State)
			}
		}
	}
	return &f, nil
}

// locate records the line of each test, input and expectation.
func locate(f *File, root *yaml.Node) {
	for i, tn := range yamlfile.Items(root, "tests") {
		if i >= len(f.Tests) {
			break
		}
		f.Tests[i].line = tn.Line
		for j, en := range yamlfile.Items(tn, "events") {
			if j < len(f.Tests[i].Events) {
				f.Tests[i].Events[j].line = en.Line
			}
		}
		for j, en := range yamlfile.Items(tn, "expect") {
			if j < len(f.Tests[i].Expect) {
				f.Tests[i].Expect[j].line = en.Line
			}
		}
	}
}

// RunDir runs every test file under dir against set.
func RunDir(dir string, set *rule.Set, log *slog.Logger) ([]Result, error) {
	files, err := Files(dir)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		f, err := Parse(path, b)
		if err != nil {
			return nil, err
		}
		rs, err := RunFile(path, f, set, log)
		if err != nil {
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// RunFile runs the tests of one parsed file, each on a fresh engine.
func RunFile(path string, f *File, set *rule.Set, log *slog.Logger) ([]Result, error) {
	names := map[string]bool{}
	for _, c := range set.Rules {
		names[c.Name] = true
	}
	var out []Result
	for ti, t := range f.Tests {
		pos := fmt.Sprintf("%s:%d", path, t.line)
		for _, x := range t.Expect {
			if !names[x.Rule] {
				return nil, fmt.Errorf("%s:%d: no rule %q in the pack", path, x.line, x.Rule)
			}
		}
		for _, r := range t.Rules {
			if !names[r] {
				return nil, fmt.Errorf("%s: rules: no rule %q in the pack", pos, r)
			}
		}
		start := f.Start
		if !t.Start.IsZero() {
			start = t.Start
		}
		alerts, err := feed(set, log, f, ti, start)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pos, err)
		}
		out = append(out, Result{Pos: pos, Name: t.Name, Alerts: alerts, Diff: compare(t, alerts, start), Start: start})
	}
	return out, nil
}

// feed runs one test's inputs through a fresh engine.
func feed(set *rule.Set, log *slog.Logger, f *File, ti int, start time.Time) ([]*alert.Alert, error) {
	steps, err := Steps(f, ti, start)
	if err != nil {
		return nil, err
	}
	eng := correlate.New(set, log, correlate.Options{Now: func() time.Time { return start }})
	var alerts []*alert.Alert
	for _, s := range steps {
		if s.Event == nil {
			alerts = append(alerts, eng.Advance(s.Tick)...)
			continue
		}
		alerts = append(alerts, eng.Process(s.Event, correlate.Meta{Drill: s.Drill})...)
	}
	return alerts, nil
}

// Step is one input of a test as the engine gets it: an event, or (Event
// nil) a tick of the live clock to Tick.
type Step struct {
	Event *event.Event
	Drill bool
	Tick  time.Time
}

// Steps expands test ti's inputs (repeats, nodes, relative times) into the
// engine's inputs, in order.
func Steps(f *File, ti int, start time.Time) ([]Step, error) {
	t := f.Tests[ti]
	var out []Step
	n := 0
	for _, in := range t.Events {
		if in.Tick.IsSet {
			out = append(out, Step{Tick: in.Tick.Time(start)})
			continue
		}
		nodes := in.Nodes
		if len(nodes) == 0 {
			nodes = []string{or(in.Node, f.Defaults.Node, "node1")}
		}
		reps := max(in.Repeat, 1)
		for r := range reps {
			for _, node := range nodes {
				n++
				ev, err := makeEvent(in, f.Defaults, node, start, r, ti, n)
				if err != nil {
					return nil, fmt.Errorf("line %d: %w", in.line, err)
				}
				out = append(out, Step{Event: ev, Drill: t.Drill})
			}
		}
	}
	return out, nil
}

func makeEvent(in Input, d Defaults, node string, start time.Time, rep, ti, n int) (*event.Event, error) {
	id := in.ID
	if id == "" || rep > 0 || len(in.Nodes) > 1 {
		id = fmt.Sprintf("test%d-%d", ti+1, n)
	}
	ev := &event.Event{
		SpecVersion: event.SpecVersion, ID: id, Source: "aftershock/rules-test", Type: in.Type,
		Time:    in.At.Time(start).Add(time.Duration(rep) * in.Every.Std()).UTC(),
		Cluster: or(in.Cluster, d.Cluster, "test"), Node: node, Subject: node,
	}
	if in.Data != nil {
		raw, err := json.Marshal(relTimes(in.Data, start))
		if err != nil {
			return nil, fmt.Errorf("data of %s: %w", in.Type, err)
		}
		ev.Data = raw
	}
	if err := ev.Validate(); err != nil {
		return nil, err
	}
	return ev, nil
}

func or(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// relTimes turns strings like "+30s" in test data into times relative to
// start, so a reboot's last_heartbeat can be written like the event times.
func relTimes(v any, start time.Time) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = relTimes(e, start)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = relTimes(e, start)
		}
		return out
	case string:
		if len(x) > 1 && (x[0] == '+' || x[0] == '-') {
			if d, err := duration.Parse(x[1:]); err == nil {
				if x[0] == '-' {
					d = -d
				}
				return start.Add(d).UTC().Format(time.RFC3339Nano)
			}
		}
	}
	return v
}

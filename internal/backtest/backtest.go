// Package backtest runs rule sets over events stored in EVENTS and reports
// the alerts they would have raised, and how two rule sets differ. It reads
// with an ordered consumer (ephemeral, in memory on the server, no acks)
// and publishes nothing: no alerts, no notifications, no state.
package backtest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// Live and drill subject filters.
const (
	SubjectsLive  = event.LivePrefix + ".>"
	SubjectsDrill = event.DrillPrefix + ".>"
)

// The router's idle clock advances the live timeline to the wall clock
// minus a lag every few seconds while it is caught up; the backtest does
// the same on the stored arrival times, so absence fires as it would have.
const (
	idleTick = 5 * time.Second
	idleLag  = 10 * time.Second
	// stallTimeout fails a read that gets no message although the stream
	// said more were pending.
	stallTimeout = 30 * time.Second
)

// RuleSet is one rule set to run, named by where it came from.
type RuleSet struct {
	Name string // the rules directory, for reports
	Set  *rule.Set
}

// Options select the stored events.
type Options struct {
	// Stream is read; default EVENTS.
	Stream string
	// Subjects filter the stream; default the live namespace only.
	Subjects []string
	// From is the first arrival time read (required).
	From time.Time
	// Until is the last arrival time read; zero reads to the stream's end
	// as it was when the run started (a growing stream still terminates).
	Until time.Time
	// Batch is the pull batch size; default 4096.
	Batch int
	Log   *slog.Logger
	// Now is the wall clock (the end of an open-ended range); default time.Now.
	Now func() time.Time
	// Progress, when set, is told how far the read got after each batch
	// of events, from the goroutine that called Execute.
	Progress func(Progress)
}

func (o *Options) defaults() {
	if o.Stream == "" {
		o.Stream = bus.StreamEvents
	}
	if len(o.Subjects) == 0 {
		o.Subjects = []string{SubjectsLive}
	}
	if o.Batch <= 0 {
		o.Batch = 4096
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

func (o *Options) validate(sets []RuleSet) error {
	var errs []error
	if o.From.IsZero() {
		errs = append(errs, errors.New("from: required"))
	}
	if !o.Until.IsZero() && o.Until.Before(o.From) {
		errs = append(errs, fmt.Errorf("until %s: before from %s", o.Until.Format(time.RFC3339), o.From.Format(time.RFC3339)))
	}
	if len(sets) == 0 {
		errs = append(errs, errors.New("rule sets: none given"))
	}
	for i, s := range sets {
		if s.Set == nil {
			errs = append(errs, fmt.Errorf("rule set %d (%s): nil", i, s.Name))
		}
	}
	return errors.Join(errs...)
}

// Result is what a run read and what each rule set raised.
type Result struct {
	Stream   string    `json:"stream"`
	Subjects []string  `json:"subjects"`
	From     time.Time `json:"from"`
	Until    time.Time `json:"until"`
	// Events were evaluated; Skipped are what the router dead-letters
	// (undecodable, or on another node's subject).
	Events  int64 `json:"events"`
	Skipped int64 `json:"skipped"`
	// First and Last are the arrival times of the first and last event read.
	First   time.Time `json:"first_arrival,omitzero"`
	Last    time.Time `json:"last_arrival,omitzero"`
	Elapsed Duration  `json:"elapsed"`
	Runs    []*Run    `json:"-"`
}

// Run is one rule set's outcome.
type Run struct {
	Name    string `json:"dir"`
	Version string `json:"version"`
	Rules   int    `json:"rules"`
	// Alerts are the last version of every alert (an update replaces the
	// alert it updates), in time order.
	Alerts []*alert.Alert `json:"-"`
	// Stats are the per-rule counters of the engine, for rules that saw
	// anything.
	Stats map[string]correlate.RuleStats `json:"-"`

	engine *correlate.Engine
	byKey  map[Key]*alert.Alert
}

// Duration marshals as Go duration text.
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Execute reads the stored events once and runs every rule set over them,
// each on its own engine, exactly as the router would: same decoding, same
// timelines (drill subjects on drill timelines), arrival from the stored
// timestamp.
func Execute(ctx context.Context, js jetstream.JetStream, sets []RuleSet, opts Options) (*Result, error) {
	opts.defaults()
	if err := opts.validate(sets); err != nil {
		return nil, fmt.Errorf("backtest: %w", err)
	}
	start := time.Now()
	res := &Result{Stream: opts.Stream, Subjects: opts.Subjects, From: opts.From.UTC(), Until: opts.Until.UTC()}
	for _, s := range sets {
		res.Runs = append(res.Runs, &Run{
			Name: s.Name, Version: s.Set.Version, Rules: len(s.Set.Rules), byKey: map[Key]*alert.Alert{},
			engine: correlate.New(s.Set, opts.Log.With("rules", s.Name), correlate.Options{}),
		})
	}
	end, err := lastSeq(ctx, js, opts.Stream)
	if err != nil {
		return nil, err
	}
	if res.Until.IsZero() {
		res.Until = opts.Now().UTC()
	}
	if end > 0 {
		if err := res.read(ctx, js, opts, end); err != nil {
			return nil, err
		}
	}
	// The router's clock would have reached the end of the range.
	for _, r := range res.Runs {
		r.collect(r.engine.Advance(res.Until.Add(-idleLag)))
		r.finish()
	}
	res.Elapsed = Duration(time.Since(start))
	return res, nil
}

func lastSeq(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, fmt.Errorf("backtest: stream %s: %w", stream, err)
	}
	return s.CachedInfo().State.LastSeq, nil
}

// collect keeps the latest version of each alert: an update (a firing
// alert re-rendered because its window grew) replaces the earlier one.
func (r *Run) collect(as []*alert.Alert) {
	for _, a := range as {
		k := KeyOf(a)
		if old, ok := r.byKey[k]; ok && old.Update > a.Update {
			continue
		}
		r.byKey[k] = a
	}
}

func (r *Run) finish() {
	r.Alerts = make([]*alert.Alert, 0, len(r.byKey))
	for _, a := range r.byKey {
		r.Alerts = append(r.Alerts, a)
	}
	slices.SortFunc(r.Alerts, func(a, b *alert.Alert) int { return KeyOf(a).Compare(KeyOf(b)) })
	r.Stats = map[string]correlate.RuleStats{}
	for name, st := range r.engine.Stats().Rules {
		if st != (correlate.RuleStats{}) {
			r.Stats[name] = st
		}
	}
	r.byKey, r.engine = nil, nil
}

// Package logtail follows log files (CRI container logs and plain files)
// and turns lines matching configured patterns into events, rpc.timeout by
// default, rolled up per (file, pattern) and interval.
//
// The tailer is this package's own (tailer.go): nxadm/tail, the maintained
// hpcloud/tail fork, reopens a renamed file at once and loses what the writer
// still appends to the old one, notices copytruncate only when a stat races
// the writer, has no globs, and calls os.Exit on a stat error; OpenTelemetry's
// stanza fileconsumer does all of it right but brings ~35 modules (collector
// core, pdata, gRPC, zap) that would double the node agent's binary.
package logtail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rollup"
)

// Emitter publishes an event; the collector implements it.
type Emitter interface {
	Emit(ctx context.Context, typ string, t time.Time, data any) error
}

// Config configures the log source. Defaults fills zero fields.
type Config struct {
	// Globs select the files, e.g. /var/log/containers/*.log.
	Globs []string
	// Patterns turn lines into events (LoadPatterns).
	Patterns []Pattern
	// StateDir keeps the positions (StateDir/logtail-positions.json).
	StateDir string
	// FromStart reads files found at the first start from their beginning
	// instead of their end.
	FromStart bool
	// Poll is how often files are checked; Rollup the interval over which
	// repeats of one (file, pattern) are counted into one event.
	Poll   time.Duration
	Rollup time.Duration
}

// Defaults fills zero fields.
func (c *Config) Defaults() {
	if c.Poll == 0 {
		c.Poll = 250 * time.Millisecond
	}
	if c.Rollup == 0 {
		c.Rollup = time.Minute
	}
}

// Validate names every bad field.
func (c *Config) Validate() error {
	var errs []error
	if len(c.Globs) == 0 {
		errs = append(errs, errors.New("log globs: none given"))
	}
	if len(c.Patterns) == 0 {
		errs = append(errs, errors.New("log patterns: none given"))
	}
	if c.StateDir == "" {
		errs = append(errs, errors.New("state dir: required to keep log positions"))
	}
	if c.Poll < 10*time.Millisecond {
		errs = append(errs, fmt.Errorf("log poll %s: must be at least 10ms", c.Poll))
	}
	if c.Rollup < c.Poll {
		errs = append(errs, fmt.Errorf("log rollup %s: must be at least the poll interval %s", c.Rollup, c.Poll))
	}
	return errors.Join(errs...)
}

// Source is the log tail source.
type Source struct {
	cfg     Config
	log     *slog.Logger
	tailer  *Tailer
	rollup  *rollup.Rollup[match1]
	active  map[string]time.Time // last occurrence per (file, pattern)
	partial map[string][]byte    // CRI P lines waiting for their F
	now     func() time.Time
}

// match1 is one matched line, the rollup's value (the first is kept).
type match1 struct {
	typ  string
	data event.RPCTimeout
}

// New checks cfg and loads the saved positions.
func New(cfg Config, log *slog.Logger) (*Source, error) {
	cfg.Defaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t, err := NewTailer(TailerConfig{
		Globs: cfg.Globs, Positions: filepath.Join(cfg.StateDir, "logtail-positions.json"),
		StartAtEnd: !cfg.FromStart, GracePolls: int(5 * time.Second / cfg.Poll),
	}, log)
	if err != nil {
		return nil, err
	}
	return &Source{cfg: cfg, log: log, tailer: t, rollup: rollup.New[match1](cfg.Rollup, nil),
		active: map[string]time.Time{}, partial: map[string][]byte{}, now: time.Now}, nil
}

// Name implements the collector's Source.
func (s *Source) Name() string { return "logs" }

// Run polls until ctx ends, then publishes open rollups and saves positions.
func (s *Source) Run(ctx context.Context, emit Emitter) error {
	defer s.tailer.Close()
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		s.poll(ctx, emit)
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
			defer cancel()
			for _, g := range s.rollup.Flush() {
				s.emitGroup(fctx, g, emit)
			}
			return s.tailer.Save()
		case <-t.C:
		}
	}
}

// poll reads new lines, publishes what they match and the due rollups, and
// saves positions.
func (s *Source) poll(ctx context.Context, emit Emitter) {
	s.tailer.Poll(func(l Line) { s.line(ctx, l, emit) })
	now := s.now()
	for _, g := range s.rollup.Due(now) {
		s.emitGroup(ctx, g, emit)
	}
	for k, last := range s.active {
		if now.Sub(last) > s.cfg.Rollup {
			delete(s.active, k)
		}
	}
	if err := s.tailer.Save(); err != nil {
		s.log.Warn("save log positions", "err", err)
	}
}

const maxSample = 512

func (s *Source) line(ctx context.Context, l Line, emit Emitter) {
	text := l.Text
	at := s.now()
	if c, ok := parseCRI(text); ok {
		if c.partial {
			if p := s.partial[l.Path]; len(p) < 64<<10 {
				s.partial[l.Path] = append(p, c.msg...)
			}
			return
		}
		text = append(s.partial[l.Path], c.msg...)
		delete(s.partial, l.Path)
		at = c.time
	}
	p, groups := match(s.cfg.Patterns, text)
	if p == nil {
		return
	}
	d := event.RPCTimeout{
		Pattern: p.Name, Service: groups["service"], Peer: groups["peer"], Method: groups["method"], Code: groups["code"],
		File: l.Path, Sample: string(text[:min(len(text), maxSample)]),
	}
	if ref, ok := podFromPath(l.Path); ok {
		d.Namespace, d.Pod, d.Container = ref.namespace, ref.pod, ref.container
	}
	// The first occurrence after a quiet interval is published at once; the
	// rest are counted into the interval's rollup.
	key := l.Path + "\x00" + p.Name
	last, active := s.active[key]
	s.active[key] = at
	if !active || at.Sub(last) > s.cfg.Rollup {
		d.Count, d.First, d.Last = 1, at.UTC(), at.UTC()
		s.emit(ctx, emit, p.Type, at, d)
		return
	}
	s.rollup.Add(key, at, match1{typ: p.Type, data: d})
}

func (s *Source) emitGroup(ctx context.Context, g rollup.Group[match1], emit Emitter) {
	d := g.Value.data
	d.Count, d.First, d.Last = g.Count, g.First.UTC(), g.Last.UTC()
	s.emit(ctx, emit, g.Value.typ, g.Last, d)
}

func (s *Source) emit(ctx context.Context, emit Emitter, typ string, t time.Time, data any) {
	if err := emit.Emit(ctx, typ, t, data); err != nil {
		s.log.Warn("logs: publish failed", "type", typ, "err", err)
	}
}

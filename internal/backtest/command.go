package backtest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/duration"
	"github.com/aftershock/aftershock/internal/rule"
)

// Command is `router backtest` as data: main parses flags into it.
type Command struct {
	Source Source
	// Since is a duration back from now ("7d", "36h") or an RFC 3339 time.
	Since string
	// Until is empty (now), a duration back from now, or an RFC 3339 time.
	Until string
	// RulesDir is the rule set to run (the candidate with CompareDir).
	RulesDir string
	// CompareDir, when set, is the baseline rule set to diff against.
	CompareDir string
	// Subjects filter EVENTS; empty means the live namespace.
	Subjects []string
	JSON     bool
	// Progress, when set (a terminal), shows how far the read got.
	Progress io.Writer
}

// Loader reads and checks a rule pack, as `router rules check` does.
type Loader func(dir string) (*rule.Set, error)

// Run executes the command and writes its report to w.
func (c Command) Run(ctx context.Context, load Loader, w io.Writer, log *slog.Logger) error {
	now := time.Now()
	from, err := ParseTime(c.Since, now)
	if err != nil {
		return fmt.Errorf("--since: %w", err)
	}
	var until time.Time
	if c.Until != "" {
		if until, err = ParseTime(c.Until, now); err != nil {
			return fmt.Errorf("--until: %w", err)
		}
	}
	if c.RulesDir == "" {
		return errors.New("--rules: required")
	}
	dirs := []string{c.RulesDir}
	if c.CompareDir != "" {
		dirs = append(dirs, c.CompareDir)
	}
	var sets []RuleSet
	for _, d := range dirs {
		set, err := load(d)
		if err != nil {
			return err
		}
		sets = append(sets, RuleSet{Name: d, Set: set})
	}
	js, closeSrc, err := Open(ctx, c.Source, log)
	if err != nil {
		return err
	}
	defer closeSrc()
	o := Options{Subjects: c.Subjects, From: from, Until: until, Log: log}
	var line *ProgressLine
	if c.Progress != nil {
		line = &ProgressLine{W: c.Progress, Every: 200 * time.Millisecond}
		o.Progress = line.Update
	}
	res, err := Execute(ctx, js, sets, o)
	if line != nil {
		line.Done() // before the report
	}
	if err != nil {
		return err
	}
	var diff *Diff
	if c.CompareDir != "" {
		diff = CompareRuns(res.Runs[1], res.Runs[0])
	}
	rep := NewReport(res, diff)
	if c.JSON {
		return rep.WriteJSON(w)
	}
	return rep.WriteText(w)
}

// ParseTime reads "7d", "36h", "90m" as that long before now, or an RFC 3339
// time.
func ParseTime(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, errors.New("empty: want a duration like 7d or 36h, or an RFC 3339 time")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := duration.Parse(s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q: want a duration like 7d or 36h, or an RFC 3339 time", s)
	}
	return now.Add(-d), nil
}

package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/aftershock/aftershock/internal/backtest"
	"github.com/aftershock/aftershock/internal/logging"
	"github.com/aftershock/aftershock/internal/router"
	"github.com/aftershock/aftershock/internal/rule"
)

const backtestUsage = `usage: router backtest [flags]

Run a rule set over the events stored in EVENTS and print the alerts it
would have raised; with --compare, how it differs from another rule set
(e.g. --rules ./rules --compare ../main/rules). Reads with an ordered
consumer: nothing is acked, published or notified.

Reads from --nats, or else from the embedded store in --state-dir, which
needs the router to be stopped (while it runs, use --nats nats://127.0.0.1:4222).

Flags:
`

type subjects []string

func (s *subjects) String() string     { return fmt.Sprint(*s) }
func (s *subjects) Set(v string) error { *s = append(*s, v); return nil }

func backtestCmd(args []string) int {
	fs := flag.NewFlagSet("router backtest", flag.ContinueOnError)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), backtestUsage)
		fs.PrintDefaults()
	}
	var c backtest.Command
	var drills bool
	var subj subjects
	fs.StringVar(&c.Since, "since", "7d", "start of the range: a duration back from now (7d, 36h) or an RFC 3339 time")
	fs.StringVar(&c.Until, "until", "", "end of the range (default now): a duration back from now or an RFC 3339 time")
	fs.StringVar(&c.RulesDir, "rules", envOr("AFTERSHOCK_RULES", "./rules"), "rule set to run [$AFTERSHOCK_RULES]")
	fs.StringVar(&c.CompareDir, "compare", "", "baseline rule set: print what --rules adds, removes and changes against it")
	fs.BoolVar(&c.JSON, "json", false, "print the report as JSON (for CI comments)")
	fs.BoolVar(&drills, "drills", false, "also read the drill namespace (drill.events.>), on drill timelines")
	fs.Var(&subj, "subject", "subject filter on EVENTS, repeatable (default events.>)")
	c.Source.NATS.RegisterFlags(fs, "", "NATS server URL(s); empty reads the embedded store in --state-dir")
	fs.StringVar(&c.Source.StateDir, "state-dir", envOr("AFTERSHOCK_STATE_DIR", "./state/router"), "router state directory holding the embedded store (router stopped) [$AFTERSHOCK_STATE_DIR]")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "router backtest: unexpected argument %q (see router backtest --help)\n", fs.Arg(0))
		return 2
	}
	c.Subjects = subj
	if drills {
		if len(c.Subjects) == 0 {
			c.Subjects = []string{backtest.SubjectsLive}
		}
		c.Subjects = append(c.Subjects, backtest.SubjectsDrill)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if logging.IsTerminal(os.Stderr) {
		c.Progress = os.Stderr // events read, rate and time left, on one line
	}
	load := func(dir string) (*rule.Set, error) { return router.LoadRules(dir, nil) }
	if err := c.Run(ctx, load, os.Stdout, log); err != nil {
		fmt.Fprintf(os.Stderr, "router backtest: %v\n", err)
		return 1
	}
	return 0
}

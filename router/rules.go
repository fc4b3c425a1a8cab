package main

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/aftershock/aftershock/internal/correlate/ruletest"
	"github.com/aftershock/aftershock/internal/router"
	"github.com/aftershock/aftershock/internal/rule"
	"github.com/aftershock/aftershock/internal/ruleplan"
)

const rulesUsage = `usage:
  router rules check [--explain] DIR   load, compile, type- and cost-check every rule; file:line for each problem;
                                       --explain prints how the engine evaluates the matches (the rule plan)
  router rules test DIR                run the *_test.yaml rule tests under DIR on the router's engine
`

func rulesCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, rulesUsage)
		return 0
	}
	explain := len(args) == 3 && args[0] == "check" && (args[1] == "--explain" || args[1] == "-explain")
	if explain {
		args = []string{args[0], args[2]}
	}
	if len(args) != 2 || (args[0] != "check" && args[0] != "test") {
		fmt.Fprint(stderr, rulesUsage)
		return 2
	}
	dir := args[1]
	set, err := router.LoadRules(dir, nil)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if args[0] == "check" {
		fmt.Fprintf(stdout, "%s: %d rules OK (version %s)\n", dir, len(set.Rules), set.Version)
		if explain {
			fmt.Fprintln(stdout)
			ruleplan.New(set).Explain(stdout)
		}
		return 0
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("AFTERSHOCK_RULES_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	results, err := ruletest.RunDir(dir, set, log)
	if err != nil {
		var probs rule.Problems
		if errors.As(err, &probs) {
			fmt.Fprintln(stderr, probs)
		} else {
			fmt.Fprintln(stderr, err)
		}
		return 1
	}
	if ruletest.Report(stdout, results) > 0 {
		return 1
	}
	return 0
}

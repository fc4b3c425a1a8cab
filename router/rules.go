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
)

const rulesUsage = `usage:
  router rules check DIR   load, compile, type- and cost-check every rule; file:line for each problem
  router rules test DIR    run the *_test.yaml rule tests under DIR on the router's engine
`

func rulesCmd(args []string) int {
	if len(args) != 2 || (args[0] != "check" && args[0] != "test") {
		fmt.Fprint(os.Stderr, rulesUsage)
		return 2
	}
	dir := args[1]
	set, err := router.LoadRules(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if args[0] == "check" {
		fmt.Printf("%s: %d rules OK (version %s)\n", dir, len(set.Rules), set.Version)
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
			fmt.Fprintln(os.Stderr, probs)
		} else {
			fmt.Fprintln(os.Stderr, err)
		}
		return 1
	}
	if ruletest.Report(os.Stdout, results) > 0 {
		return 1
	}
	return 0
}

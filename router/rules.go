package main

import (
	"fmt"
	"os"

	"github.com/aftershock/aftershock/internal/router"
)

func rulesCmd(args []string) int {
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprintln(os.Stderr, "usage: router rules check DIR")
		return 2
	}
	set, err := router.LoadRules(args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Printf("%s: %d rules OK (version %s)\n", args[1], len(set.Rules), set.Version)
	return 0
}

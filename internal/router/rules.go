package router

import (
	"fmt"

	"github.com/aftershock/aftershock/internal/route"
	"github.com/aftershock/aftershock/internal/rule"
)

// ReceiverSource lists the receiver names a rule pack may reference; it is
// given the rules directory (where routing lives). The notification routing
// plugs its own in; `rules check` uses the same one.
type ReceiverSource func(rulesDir string) ([]string, error)

// DefaultReceivers lists the receivers of the rules directory's routing
// file (routing.yaml; without one, just the console).
func DefaultReceivers(dir string) ([]string, error) { return route.ReceiverNames(dir) }

// LoadRules reads, checks and compiles the rule pack in dir, checking
// receiver names against receivers (nil: DefaultReceivers).
func LoadRules(dir string, receivers ReceiverSource) (*rule.Set, error) {
	if receivers == nil {
		receivers = DefaultReceivers
	}
	names, err := receivers(dir)
	if err != nil {
		return nil, fmt.Errorf("list receivers: %w", err)
	}
	set, err := rule.LoadDir(dir, rule.CheckOptions{Receivers: names})
	if err != nil {
		return nil, fmt.Errorf("rules in %s:\n%w", dir, err)
	}
	return set, nil
}

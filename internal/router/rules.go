package router

import (
	"fmt"

	"github.com/aftershock/aftershock/internal/route"
	"github.com/aftershock/aftershock/internal/rule"
)

// RoutingSource gives the routing a rule pack is checked against (its
// receivers) and rendered for (its time_zone); it is given the rules
// directory (where routing lives). A reload plugs in the routing it just
// read, so rules and routing are one snapshot; `rules check` reads it.
type RoutingSource func(rulesDir string) (*route.Routing, error)

// LoadRules reads, checks and compiles the rule pack in dir against the
// routing of source (nil: the directory's routing.yaml; without one, just
// the console and UTC).
func LoadRules(dir string, source RoutingSource) (*rule.Set, error) {
	if source == nil {
		source = route.Load
	}
	routing, err := source(dir)
	if err != nil {
		return nil, fmt.Errorf("routing: %w", err)
	}
	set, err := rule.LoadDir(dir, rule.CheckOptions{Receivers: routing.ReceiverNames(), Location: routing.Location})
	if err != nil {
		return nil, fmt.Errorf("rules in %s:\n%w", dir, err)
	}
	return set, nil
}

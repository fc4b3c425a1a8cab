package rule

import (
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common/types"
)

// DefaultCostLimit is the largest static cost estimate of an expression
// evaluated per event (match, at, group_by, condition). A loop over the
// evidence sample estimates in the hundreds; two nested loops over it in
// the tens of thousands. Values, evaluated only when an alert is raised,
// may cost ValuesCostFactor times more. There is no runtime limit: paying
// for one on every event is what the static check avoids.
const (
	DefaultCostLimit = 25_000
	ValuesCostFactor = 10
)

// Size assumptions for values CEL cannot size statically.
const (
	estStringLen = 1024 // a kernel line (printk's limit), a summary, a name
	estListLen   = 256  // data lists: pods, call trace, lines
	estMapLen    = 64
)

// estimator sizes the environment's variables for checker.Cost.
type estimator struct {
	evidence  uint64            // max size of `events`
	tableLen  uint64            // rows of the largest table
	tableRows map[string]uint64 // rows of each table: a long table prices only its own loops
	tables    uint64            // number of tables
	cellLen   uint64            // longest table cell
}

func (e estimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	if p := n.Path(); len(p) > 0 {
		switch p[0] {
		case "events":
			if len(p) == 1 {
				return &checker.SizeEstimate{Min: 0, Max: e.evidence}
			}
		case "tables":
			switch {
			case n.Type().Kind() == types.StringKind:
				return &checker.SizeEstimate{Min: 0, Max: e.cellLen}
			case len(p) == 1:
				return &checker.SizeEstimate{Min: 0, Max: e.tables}
			case len(p) == 2:
				if rows, ok := e.tableRows[p[1]]; ok {
					return &checker.SizeEstimate{Min: 0, Max: rows}
				}
				return &checker.SizeEstimate{Min: 0, Max: e.tableLen}
			}
		}
	}
	switch n.Type().Kind() {
	case types.StringKind, types.BytesKind:
		return &checker.SizeEstimate{Min: 0, Max: estStringLen}
	case types.ListKind, types.DynKind:
		return &checker.SizeEstimate{Min: 0, Max: estListLen}
	case types.MapKind:
		return &checker.SizeEstimate{Min: 0, Max: estMapLen}
	}
	return nil
}

// EstimateCallCost prices the window helpers: counters read incremental
// state but may scan the records of a restricted window, so they cost like
// a short loop; node_names returns up to MaxNodeNames strings.
func (e estimator) EstimateCallCost(function, overloadID string, target *checker.AstNode, args []checker.AstNode) *checker.CallEstimate {
	switch function {
	case "count", "events", "nodes", "first", "last", "followed_by", "after", "before":
		if target != nil && (*target).Type().TypeName() == WindowType.TypeName() {
			return &checker.CallEstimate{CostEstimate: checker.CostEstimate{Min: 1, Max: 100}}
		}
	case "agents_only", "exposed_nodes", "known_bugs", "timeout_pods":
		// Go loops over a node's pods, every node's latest posture, the
		// evidence: linear, and cheap per element (exposure.go, attribution.go).
		return &checker.CallEstimate{
			CostEstimate: checker.CostEstimate{Min: 1, Max: 10 * estMapLen},
			ResultSize:   &checker.SizeEstimate{Min: 0, Max: estMapLen},
		}
	case "node_names":
		return &checker.CallEstimate{
			CostEstimate: checker.CostEstimate{Min: 1, Max: 100},
			ResultSize:   &checker.SizeEstimate{Min: 0, Max: MaxNodeNames},
		}
	}
	return nil
}

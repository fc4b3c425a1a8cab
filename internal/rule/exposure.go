package rule

import (
	"regexp"
	"strings"
	"sync"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/aftershock/aftershock/internal/event"
)

// exposureFunctions declares the helpers of "who else is exposed?"
// (docs/rules.md): loops over every node's latest posture, every pod and
// every table row, written in Go because the same loops in CEL would cost
// too much on every event.
//
//	agents_only(pods, agents) bool
//	exposed_nodes(latest["node.posture"], latest["node.reboot"], kernel, agents) list(string)
//	known_bugs(events, kernel, table) list(map(string, string))
func exposureFunctions() []cel.EnvOption {
	table := cel.ListType(cel.MapType(cel.StringType, cel.StringType))
	byNode := cel.MapType(cel.StringType, EventType)
	return []cel.EnvOption{
		cel.Function("agents_only",
			cel.Overload("agents_only_dyn_table", []*cel.Type{cel.DynType, table}, cel.BoolType,
				cel.BinaryBinding(agentsOnlyVal))),
		cel.Function("exposed_nodes",
			cel.Overload("exposed_nodes_latest_latest_string_table", []*cel.Type{byNode, byNode, cel.StringType, table}, cel.ListType(cel.StringType),
				cel.FunctionBinding(exposedNodes))),
		cel.Function("known_bugs",
			cel.Overload("known_bugs_events_string_table", []*cel.Type{cel.ListType(EventType), cel.StringType, table}, table,
				cel.FunctionBinding(knownBugs))),
	}
}

// agentRows reads a table of node agents: namespace ("" for any) and the
// prefix of the pod name.
type agentRow struct{ namespace, prefix string }

func agentRows(v ref.Val) ([]agentRow, ref.Val) {
	rows, err := tableRows(v)
	if err != nil {
		return nil, err
	}
	out := make([]agentRow, len(rows))
	for i, r := range rows {
		out[i] = agentRow{r["namespace"], r["prefix"]}
	}
	return out, nil
}

// tableRows converts a table value to Go maps.
func tableRows(v ref.Val) ([]map[string]string, ref.Val) {
	l, ok := v.(traits.Lister)
	if !ok {
		return nil, types.NewErr("a table is %s, not a list", v.Type().TypeName())
	}
	var out []map[string]string
	for it := l.Iterator(); it.HasNext() == types.True; {
		m, ok := it.Next().(traits.Mapper)
		if !ok {
			return nil, types.NewErr("a table row is not a map")
		}
		row := map[string]string{}
		for kit := m.Iterator(); kit.HasNext() == types.True; {
			k := kit.Next()
			ks, _ := k.(types.String)
			vs, _ := m.Get(k).(types.String)
			row[string(ks)] = string(vs)
		}
		out = append(out, row)
	}
	return out, nil
}

func isAgent(rows []agentRow, ns, name string) bool {
	for _, r := range rows {
		if (r.namespace == "" || r.namespace == ns) && strings.HasPrefix(name, r.prefix) {
			return true
		}
	}
	return false
}

// agentsOnlyVal: every pod of the list is a node agent; an empty list says
// nothing of the node and is false.
func agentsOnlyVal(podsV, rowsV ref.Val) ref.Val {
	pods, ok := podsV.(traits.Lister)
	if !ok {
		return types.NewErr("agents_only: pods is %s, not a list", podsV.Type().TypeName())
	}
	rows, err := agentRows(rowsV)
	if err != nil {
		return err
	}
	seen := false
	for it := pods.Iterator(); it.HasNext() == types.True; {
		m, ok := it.Next().(traits.Mapper)
		if !ok {
			return types.NewErr("agents_only: a pod is not a map")
		}
		if !isAgent(rows, field(m, "namespace"), field(m, "name")) {
			return types.False
		}
		seen = true
	}
	return types.Bool(seen)
}

// agentsOnly is agentsOnlyVal over decoded posture data.
func agentsOnly(pods []any, rows []agentRow) bool {
	for _, p := range pods {
		m, _ := p.(map[string]any)
		ns, _ := m["namespace"].(string)
		name, _ := m["name"].(string)
		if !isAgent(rows, ns, name) {
			return false
		}
	}
	return len(pods) > 0
}

// exposedNodes lists, sorted, the nodes whose latest node.posture runs the
// kernel, that did not reboot since (their kernel is not known again until
// their next posture), and that are not drained (their pods are all node
// agents).
func exposedNodes(args ...ref.Val) ref.Val {
	postures, ok1 := args[0].(traits.Mapper)
	reboots, ok2 := args[1].(traits.Mapper)
	kernel, ok3 := args[2].(types.String)
	if !ok1 || !ok2 || !ok3 {
		return types.NewErr("exposed_nodes: want latest[\"node.posture\"], latest[\"node.reboot\"], a kernel and a table")
	}
	rows, err := agentRows(args[3])
	if err != nil {
		return err
	}
	var out []string
	for it := postures.Iterator(); it.HasNext() == types.True; {
		n := it.Next()
		pv, found := postures.Find(n)
		p, ok := pv.(*EventView)
		if !found || !ok {
			continue
		}
		data, _ := p.Data()
		if kr, _ := data["kernel_release"].(string); kr != string(kernel) {
			continue
		}
		if rv, found := reboots.Find(n); found {
			if r, ok := rv.(*EventView); ok && r.Time().After(p.Time()) {
				continue
			}
		}
		if pods, _ := data["pods"].([]any); agentsOnly(pods, rows) {
			continue
		}
		s, _ := n.(types.String)
		out = append(out, string(s))
	}
	return types.NewStringList(types.DefaultTypeAdapter, out)
}

// knownBugs returns the table's rows (known_kernel_bugs: signature, kernel
// regexp or "") whose signature occurs in the headline of one of the
// events (a kernel report's summary, a reboot's cause_detail) and whose
// kernel matches, once each, in table order.
func knownBugs(args ...ref.Val) ref.Val {
	evs, ok1 := args[0].(traits.Lister)
	kernel, ok2 := args[1].(types.String)
	if !ok1 || !ok2 {
		return types.NewErr("known_bugs: want events, a kernel and a table")
	}
	rows, err := tableRows(args[2])
	if err != nil {
		return err
	}
	var texts []string
	for it := evs.Iterator(); it.HasNext() == types.True; {
		v, ok := it.Next().(*EventView)
		if !ok {
			continue
		}
		data, _ := v.Data()
		key := "summary"
		if v.Ev.Type == event.TypeReboot {
			key = "cause_detail"
		}
		if s, _ := data[key].(string); s != "" {
			texts = append(texts, s)
		}
	}
	var out []map[string]string
	for _, r := range rows {
		if r["signature"] == "" || !kernelMatches(r["kernel"], string(kernel)) {
			continue
		}
		for _, s := range texts {
			if strings.Contains(s, r["signature"]) {
				out = append(out, r)
				break
			}
		}
	}
	if out == nil {
		out = []map[string]string{}
	}
	return types.DefaultTypeAdapter.NativeToValue(out)
}

var kernelPatterns sync.Map // pattern → *regexp.Regexp, or nil if it does not compile

// kernelMatches: pattern "" matches any kernel; a pattern that does not
// compile matches none.
func kernelMatches(pattern, kernel string) bool {
	if pattern == "" {
		return true
	}
	re, ok := kernelPatterns.Load(pattern)
	if !ok {
		c, err := regexp.Compile(pattern)
		if err != nil {
			c = nil
		}
		re, _ = kernelPatterns.LoadOrStore(pattern, c)
	}
	c, _ := re.(*regexp.Regexp)
	return c != nil && c.MatchString(kernel)
}

// field is a string value of a map, "" when absent or not a string.
func field(m traits.Mapper, key string) string {
	v, found := m.Find(types.String(key))
	if !found {
		return ""
	}
	s, _ := v.(types.String)
	return string(s)
}

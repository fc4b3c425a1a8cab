package rule

import (
	"maps"
	"net/netip"
	"slices"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"

	"github.com/aftershock/aftershock/internal/event"
)

// attributionFunctions declares timeout_pods: which pod the timeouts were
// waiting for (docs/rules.md).
//
//	timeout_pods(events, latest["node.posture"], crashed) list(map(string, string))
func attributionFunctions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function("timeout_pods",
			cel.Overload("timeout_pods_events_latest_list", []*cel.Type{cel.ListType(EventType), cel.MapType(cel.StringType, EventType), cel.ListType(cel.StringType)},
				cel.ListType(cel.MapType(cel.StringType, cel.StringType)), cel.FunctionBinding(timeoutPods))),
	}
}

// podAt is a pod found at an address, from a node's latest posture.
type podAt struct{ node, namespace, name string }

// timeoutPods ties the addresses the timeouts waited for (a dns.timeout's
// server, an rpc.timeout's peer, when they are IP addresses) to the pods
// whose network namespace has them, from the nodes' latest postures and the
// previous_pods of the reboots among the events: one row per address,
// sorted, with address, node, namespace, pod, and crashed ("true" when the
// node is in the crashed list, else "").
func timeoutPods(args ...ref.Val) ref.Val {
	evs, ok1 := args[0].(traits.Lister)
	postures, ok2 := args[1].(traits.Mapper)
	crashedV, ok3 := args[2].(traits.Lister)
	if !ok1 || !ok2 || !ok3 {
		return types.NewErr("timeout_pods: want events, latest[\"node.posture\"] and a list of nodes")
	}
	addrs := map[string]netip.Addr{}
	var reboots []*EventView
	for it := evs.Iterator(); it.HasNext() == types.True; {
		v, ok := it.Next().(*EventView)
		if !ok {
			continue
		}
		key := ""
		switch v.Ev.Type {
		case event.TypeDNSTimeout:
			key = "server"
		case event.TypeRPCTimeout:
			key = "peer"
		case event.TypeReboot:
			reboots = append(reboots, v)
			continue
		default:
			continue
		}
		data, _ := v.Data()
		s, _ := data[key].(string)
		if ip, ok := hostIP(s); ok {
			addrs[s] = ip
		}
	}
	out := []map[string]string{}
	if len(addrs) == 0 {
		return types.DefaultTypeAdapter.NativeToValue(out)
	}
	pods := map[netip.Addr]podAt{}
	for it := postures.Iterator(); it.HasNext() == types.True; {
		n := it.Next()
		pv, _ := postures.Find(n)
		p, ok := pv.(*EventView)
		if !ok {
			continue
		}
		node, _ := n.(types.String)
		data, _ := p.Data()
		indexPods(pods, string(node), data["pods"])
	}
	// A crashed node's new posture no longer has the pods that died with
	// it: its reboot report does, and they are what the timeouts waited for.
	for _, v := range reboots {
		data, _ := v.Data()
		indexPods(pods, v.Ev.Node, data["previous_pods"])
	}
	crashed := map[string]bool{}
	for it := crashedV.Iterator(); it.HasNext() == types.True; {
		if s, ok := it.Next().(types.String); ok {
			crashed[string(s)] = true
		}
	}
	for _, a := range slices.Sorted(maps.Keys(addrs)) {
		p, ok := pods[addrs[a]]
		if !ok {
			continue
		}
		row := map[string]string{"address": a, "node": p.node, "namespace": p.namespace, "pod": p.name, "crashed": ""}
		if crashed[p.node] {
			row["crashed"] = "true"
		}
		out = append(out, row)
	}
	return types.DefaultTypeAdapter.NativeToValue(out)
}

// indexPods files the pods of a posture's (or a reboot's) list under their IPs.
func indexPods(pods map[netip.Addr]podAt, node string, list any) {
	l, _ := list.([]any)
	for _, x := range l {
		m, _ := x.(map[string]any)
		ips, _ := m["ips"].([]any)
		for _, y := range ips {
			s, _ := y.(string)
			if ip, err := netip.ParseAddr(s); err == nil {
				ns, _ := m["namespace"].(string)
				name, _ := m["name"].(string)
				pods[ip] = podAt{node, ns, name}
			}
		}
	}
}

// hostIP reads the IP of "IP", "IP:port" or "[IPv6]:port"; a name is not one.
func hostIP(s string) (netip.Addr, bool) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr(), true
	}
	if ip, err := netip.ParseAddr(strings.Trim(s, "[]")); err == nil {
		return ip, true
	}
	return netip.Addr{}, false
}

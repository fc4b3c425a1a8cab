package brief

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// EventLine renders one event as a line a person reads, never raw JSON:
//
//	13:15:41 dns.timeout on 172.21.128.139: 11× to 10.96.0.10:53 (udp, 2s) for kubernetes.default.svc
//
// Unknown types (apps' own) show their type and node only.
func (c Clock) EventLine(ev *event.Event) string {
	return c.Time(ev.Time) + " " + typeName(ev.Type) + " on " + ev.Node + c.what(ev)
}

// what is ": <the essentials of the data>" or "".
func (c Clock) what(ev *event.Event) string {
	var s string
	switch ev.Type {
	case event.TypeReboot:
		s = c.rebootLine(ev.Data)
	case event.TypeDNSTimeout, event.TypeDNSError:
		s = dnsLine(ev.Type, ev.Data)
	case event.TypeDNSRecovered:
		var d event.DNSRecovered
		if decode(ev.Data, &d) {
			s = fmt.Sprintf("%s answers again after %d failures", hostPort(d.Server, "53"), d.Failures)
		}
	case event.TypeRPCTimeout:
		s = rpcLine(ev.Data)
	case event.TypeKernelOOM:
		s = oomLine(ev.Data)
	case event.TypeHeartbeat:
		var d event.Heartbeat
		if decode(ev.Data, &d) {
			s = "up " + Duration(time.Duration(d.UptimeSeconds*float64(time.Second)))
			if d.Meminfo != nil {
				s += ", " + MemoryLine(d.Meminfo)
			}
		}
	case event.TypePosture:
		s = postureLine(ev.Data)
	case event.TypeSpoolDropped:
		var d event.SpoolDropped
		if decode(ev.Data, &d) {
			s = fmt.Sprintf("the collector's spool dropped %d events while NATS was away", d.Dropped)
		}
	case event.TypeAlertmanagerAlert:
		var d event.AlertmanagerAlert
		if decode(ev.Data, &d) {
			s = fmt.Sprintf("%s %s", d.Labels["alertname"], d.Status)
		}
	case "aftershock.alert":
		var d struct {
			Rule     string    `json:"rule"`
			State    string    `json:"state"`
			LastSeen time.Time `json:"last_seen"`
		}
		if decode(ev.Data, &d) {
			s = d.Rule + " " + d.State
			// An absence fires a while after the silence began: say when
			// it began, the time the alert's tally and the crash use.
			if !d.LastSeen.IsZero() && d.State == "firing" {
				s += ", silent since " + c.Time(d.LastSeen)
			}
		}
	default:
		if strings.HasPrefix(ev.Type, "kernel.") {
			s = kernelLine(ev.Data)
		}
	}
	if s == "" {
		return ""
	}
	return ": " + oneLine(s, 240)
}

func decode(raw json.RawMessage, v any) bool { return len(raw) > 0 && json.Unmarshal(raw, v) == nil }

// rebootLine is dated by the report (after the reboot); it names the last
// heartbeat too, where the crash and the alert's tally place the reboot.
func (c Clock) rebootLine(raw json.RawMessage) string {
	var d event.Reboot
	if !decode(raw, &d) {
		return ""
	}
	if d.Clean {
		return "rebooted cleanly"
	}
	s := "rebooted uncleanly"
	if cause := orString(d.CauseDetail, d.Cause); cause != "" {
		s += ": " + cause
	}
	if d.Vmcore != "" {
		s += " (vmcore saved)"
	}
	if !d.LastHeartbeat.IsZero() {
		s += "; last heartbeat " + c.Time(d.LastHeartbeat)
	}
	return s
}

func dnsLine(typ string, raw json.RawMessage) string {
	var d event.DNSFailure
	if !decode(raw, &d) {
		return ""
	}
	n := max(d.Count, 1)
	var b strings.Builder
	if typ == event.TypeDNSError {
		fmt.Fprintf(&b, "%d× %s from %s", n, orString(d.Rcode, netCause(d.Error), "error"), hostPort(d.Server, "53"))
	} else {
		fmt.Fprintf(&b, "%d× to %s", n, hostPort(d.Server, "53"))
	}
	var how []string
	if d.Transport != "" {
		how = append(how, d.Transport)
	}
	if d.TimeoutMS > 0 {
		how = append(how, Duration(time.Duration(d.TimeoutMS)*time.Millisecond))
	}
	if len(how) > 0 {
		fmt.Fprintf(&b, " (%s)", strings.Join(how, ", "))
	}
	if d.Name != "" {
		fmt.Fprintf(&b, " for %s", d.Name)
	}
	return b.String()
}

func rpcLine(raw json.RawMessage) string {
	var d event.RPCTimeout
	if !decode(raw, &d) {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d×", max(d.Count, 1))
	switch {
	case d.Service != "" && d.Peer != "":
		fmt.Fprintf(&b, " %s → %s", d.Service, d.Peer)
	case d.Peer != "":
		fmt.Fprintf(&b, " → %s", d.Peer)
	case d.Service != "":
		fmt.Fprintf(&b, " %s", d.Service)
	}
	if d.Method != "" {
		fmt.Fprintf(&b, " %s", d.Method)
	}
	b.WriteString(" timed out")
	if d.Pod != "" {
		fmt.Fprintf(&b, " (pod %s)", podName(d.Namespace, d.Pod))
	}
	return b.String()
}

func oomLine(raw json.RawMessage) string {
	var d event.OOM
	if !decode(raw, &d) {
		return ""
	}
	s := fmt.Sprintf("%s OOM killed %s (pid %d, %s resident)", orString(d.Constraint, "an"), orString(d.VictimComm, "?"), d.VictimPID, event.KiB(d.VictimRSSKB))
	if d.Pod != "" {
		s += " in pod " + podName(d.Namespace, d.Pod)
	}
	return s
}

func kernelLine(raw json.RawMessage) string {
	var d event.KernelReport
	if !decode(raw, &d) {
		return ""
	}
	s := d.Summary
	if d.Comm != "" {
		s += fmt.Sprintf(" [%s]", d.Comm)
	}
	if d.Count > 1 {
		s += fmt.Sprintf(" ×%d", d.Count)
	}
	return s
}

func postureLine(raw json.RawMessage) string {
	var d event.Posture
	if !decode(raw, &d) {
		return ""
	}
	parts := []string{"kernel " + d.KernelRelease}
	if d.OS != "" {
		parts = append(parts, d.OS)
	}
	if d.Kdump != nil {
		if d.Kdump.Ready {
			parts = append(parts, "kdump ready")
		} else {
			parts = append(parts, "kdump NOT ready")
		}
	}
	if n := len(d.Pods) + d.PodsOmitted; n > 0 {
		pods := "pods"
		if n == 1 {
			pods = "pod"
		}
		parts = append(parts, fmt.Sprintf("%d %s", n, pods))
	}
	return strings.Join(parts, ", ")
}

// MemoryLine is "12.3 GiB of 15.5 GiB available (79%)".
func MemoryLine(m *event.Meminfo) string {
	if m == nil || m.MemTotalKB <= 0 {
		return ""
	}
	return fmt.Sprintf("%s of %s available (%d%%)", event.KiB(m.MemAvailableKB), event.KiB(m.MemTotalKB), m.MemAvailableKB*100/m.MemTotalKB)
}

func hostPort(server, port string) string {
	if server == "" {
		return "?"
	}
	if _, _, err := net.SplitHostPort(server); err == nil {
		return server
	}
	return net.JoinHostPort(server, port)
}

func podName(ns, pod string) string {
	if ns == "" {
		return pod
	}
	return ns + "/" + pod
}

func orString(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// oneLine flattens s to one line of at most n runes.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// netCause is what a Go network error says went wrong, without the
// operation and addresses before it: "read udp 10.8.2.1:41211->10.96.0.10:53:
// read: connection refused" is "connection refused".
func netCause(err string) string {
	if i := strings.LastIndex(err, ": "); i >= 0 {
		return err[i+2:]
	}
	return err
}

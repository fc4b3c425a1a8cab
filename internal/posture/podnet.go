package posture

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"net/netip"
	"os"
	"slices"
	"strings"
)

// podNet is what the node's kernel says of one pod's network namespace.
type podNet struct {
	ips         []string
	hostNetwork bool
}

// podNetworks finds the addresses of each pod's network namespace in the
// host's /proc, the way the kernel itself knows them: for every process,
// /proc/PID/cgroup names its pod (the kubepods cgroup path, any driver,
// cgroup v1 or v2), and the first process seen of a pod gives the local
// addresses of its namespace (/proc/PID/net/fib_trie, /proc/PID/net/if_inet6;
// readable by anyone, no ptrace). A pod whose addresses are the host's runs
// in the host network. No API credentials, and the same for every CNI and
// runtime; only /proc is read (the DaemonSet mounts it at /host/proc).
// want lists the pod UIDs to find; the scan stops when it has them all.
func (h Host) podNetworks(want map[string]bool) map[string]podNet {
	out := map[string]podNet{}
	if len(want) == 0 {
		return out
	}
	ents, err := os.ReadDir(h.Path("/proc"))
	if err != nil {
		return out
	}
	host := addrKey(h.namespaceAddrs("1"))
	for _, e := range ents {
		pid := e.Name()
		if pid == "" || pid[0] < '1' || pid[0] > '9' {
			continue
		}
		uid := h.podOfProcess(pid)
		if uid == "" || !want[uid] {
			continue
		}
		if _, done := out[uid]; done {
			continue
		}
		ips := h.namespaceAddrs(pid)
		if len(ips) == 0 {
			continue // exited, or no network yet: try its next process
		}
		if host != "" && addrKey(ips) == host {
			out[uid] = podNet{hostNetwork: true}
		} else {
			out[uid] = podNet{ips: ips}
		}
		if len(out) == len(want) {
			break
		}
	}
	return out
}

// podOfProcess reads the pod UID from /proc/PID/cgroup, "" if none.
func (h Host) podOfProcess(pid string) string {
	b, err := os.ReadFile(h.Path("/proc/" + pid + "/cgroup"))
	if err != nil {
		return ""
	}
	for line := range strings.Lines(string(b)) {
		// hierarchy-ID:controllers:path
		_, rest, _ := strings.Cut(line, ":")
		_, path, _ := strings.Cut(rest, ":")
		if uid, _ := KubeCgroup(strings.TrimSpace(path)); uid != "" {
			return uid
		}
	}
	return ""
}

// namespaceAddrs lists, sorted, the addresses of PID's network namespace
// but loopback and link-local ones.
func (h Host) namespaceAddrs(pid string) []string {
	var out []string
	if b, err := os.ReadFile(h.Path("/proc/" + pid + "/net/fib_trie")); err == nil {
		out = append(out, localIPv4(b)...)
	}
	if b, err := os.ReadFile(h.Path("/proc/" + pid + "/net/if_inet6")); err == nil {
		out = append(out, globalIPv6(b)...)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// localIPv4 reads the local addresses of a fib_trie dump: a "|-- A.B.C.D"
// leaf followed by "/32 host LOCAL".
func localIPv4(b []byte) []string {
	var out []string
	var leaf string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		s := strings.TrimSpace(sc.Text())
		if a, ok := strings.CutPrefix(s, "|-- "); ok {
			leaf = a
			continue
		}
		if strings.HasPrefix(s, "/32 host LOCAL") && leaf != "" {
			if ip, err := netip.ParseAddr(leaf); err == nil && ip.Is4() && !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
				out = append(out, ip.String())
			}
			leaf = ""
		}
	}
	return out
}

// globalIPv6 reads /proc/net/if_inet6 ("address ifindex plen scope flags
// name") and keeps the global-scope addresses.
func globalIPv6(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || len(f[0]) != 32 || f[3] != "00" {
			continue
		}
		raw, err := hex.DecodeString(f[0])
		if err != nil {
			continue
		}
		ip := netip.AddrFrom16([16]byte(raw))
		if !ip.IsLoopback() && !ip.IsLinkLocalUnicast() {
			out = append(out, ip.String())
		}
	}
	return out
}

func addrKey(ips []string) string { return strings.Join(ips, ",") }

package posture

import (
	"os"
	"slices"
	"strings"

	"github.com/aftershock/aftershock/internal/event"
)

// maxPodBytes bounds the pod list in a posture event (about 300 pods), so
// the event stays below the 64 KiB limit on the busiest node.
const maxPodBytes = 32 << 10

// Pods lists the pods that have log directories on the node:
// /var/log/pods/<namespace>_<name>_<uid>/, which the kubelet creates for
// every pod it runs and removes with it. Neither namespaces nor pod names
// may contain "_", so the split is unambiguous. No API credentials needed.
// The list is sorted; omitted counts pods left out to keep the event small.
func (h Host) Pods() (pods []event.PodRef, omitted int) {
	return bound(h.listPods())
}

// PodsWithIPs is Pods with each pod's addresses (podNetworks).
func (h Host) PodsWithIPs() (pods []event.PodRef, omitted int) {
	pods = h.listPods()
	want := make(map[string]bool, len(pods))
	for _, p := range pods {
		want[p.UID] = true
	}
	nets := h.podNetworks(want)
	for i := range pods {
		if n, ok := nets[pods[i].UID]; ok {
			pods[i].IPs, pods[i].HostNetwork = n.ips, n.hostNetwork
		}
	}
	return bound(pods)
}

func (h Host) listPods() []event.PodRef {
	ents, err := os.ReadDir(h.Path("/var/log/pods"))
	if err != nil {
		return nil
	}
	var pods []event.PodRef
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		parts := strings.Split(e.Name(), "_")
		if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
			continue
		}
		pods = append(pods, event.PodRef{Namespace: parts[0], Name: parts[1], UID: parts[2]})
	}
	slices.SortFunc(pods, func(a, b event.PodRef) int {
		if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return pods
}

// bound keeps the pods that fit maxPodBytes.
func bound(pods []event.PodRef) ([]event.PodRef, int) { return boundTo(pods, maxPodBytes) }

func boundTo(pods []event.PodRef, maxBytes int) ([]event.PodRef, int) {
	size := 0
	for i, p := range pods {
		size += len(p.Namespace) + len(p.Name) + len(p.UID) + 40
		for _, ip := range p.IPs {
			size += len(ip) + 3
		}
		if size > maxBytes {
			return pods[:i], len(pods) - i
		}
	}
	return pods, 0
}

// Pod finds the pod with this UID among those with log directories, and,
// when containerID is given, the name of that container from the kubelet's
// /var/log/containers/<pod>_<namespace>_<container>-<id>.log links. It
// reads the directories on each call: it serves rare events (OOM kills),
// and a pod that just started is found at once.
func (h Host) Pod(uid, containerID string) (pod event.PodRef, container string, ok bool) {
	if uid == "" {
		return event.PodRef{}, "", false
	}
	ents, err := os.ReadDir(h.Path("/var/log/pods"))
	if err != nil {
		return event.PodRef{}, "", false
	}
	for _, e := range ents {
		parts := strings.Split(e.Name(), "_")
		if len(parts) == 3 && parts[2] == uid && parts[0] != "" && parts[1] != "" {
			pod, ok = event.PodRef{Namespace: parts[0], Name: parts[1], UID: uid}, true
			break
		}
	}
	if !ok || containerID == "" {
		return pod, "", ok
	}
	prefix, suffix := pod.Name+"_"+pod.Namespace+"_", "-"+containerID+".log"
	links, err := os.ReadDir(h.Path("/var/log/containers"))
	if err != nil {
		return pod, "", true
	}
	for _, l := range links {
		n := l.Name()
		if strings.HasPrefix(n, prefix) && strings.HasSuffix(n, suffix) && len(n) > len(prefix)+len(suffix) {
			return pod, n[len(prefix) : len(n)-len(suffix)], true
		}
	}
	return pod, "", true
}

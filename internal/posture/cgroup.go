package posture

import "strings"

// KubeCgroup finds the pod UID and container id in a cgroup path of a
// Kubernetes node (a memcg of an OOM report, a line of /proc/PID/cgroup):
//
//	cgroupfs driver (v1, v2): /kubepods/burstable/pod<uid>/<cid>
//	systemd driver:           /kubepods.slice/kubepods-burstable.slice/
//	                          kubepods-burstable-pod<uid_with_underscores>.slice/
//	                          cri-containerd-<cid>.scope (docker-<cid>.scope, crio-<cid>.scope)
//
// Either is empty when the path does not say.
func KubeCgroup(path string) (podUID, containerID string) {
	if !strings.Contains(path, "kubepods") {
		return "", ""
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	for i, p := range parts {
		if uid, ok := podSegment(p); ok {
			podUID = uid
			if i+1 < len(parts) {
				containerID = containerSegment(parts[i+1])
			}
		}
	}
	return podUID, containerID
}

// podSegment reads "pod<uid>" or "kubepods-<qos>-pod<uid_>.slice".
func podSegment(p string) (string, bool) {
	if s, ok := strings.CutSuffix(p, ".slice"); ok {
		i := strings.LastIndex(s, "-pod")
		if i < 0 || !strings.HasPrefix(s, "kubepods") {
			return "", false
		}
		uid := strings.ReplaceAll(s[i+len("-pod"):], "_", "-")
		return uid, isUID(uid)
	}
	if uid, ok := strings.CutPrefix(p, "pod"); ok && isUID(uid) {
		return uid, true
	}
	return "", false
}

// containerSegment reads "<cid>" or "<runtime>-<cid>.scope".
func containerSegment(p string) string {
	if s, ok := strings.CutSuffix(p, ".scope"); ok {
		p = s[strings.LastIndexByte(s, '-')+1:]
	}
	if len(p) < 12 || len(p) > 128 || !isHex(p) {
		return ""
	}
	return p
}

func isUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch i {
		case 8, 13, 18, 23:
			if s[i] != '-' {
				return false
			}
		default:
			if !isHex(s[i : i+1]) {
				return false
			}
		}
	}
	return true
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

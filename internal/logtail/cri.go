package logtail

import (
	"bytes"
	"path/filepath"
	"strings"
	"time"
)

// criLine is one line of a CRI container log:
// "<RFC 3339 time> <stdout|stderr> <P|F> <message>". P marks a partial
// line that continues in the next one (the runtime splits long lines).
type criLine struct {
	time    time.Time
	stream  string
	partial bool
	msg     []byte
}

func parseCRI(b []byte) (criLine, bool) {
	ts, rest, ok := bytes.Cut(b, []byte{' '})
	if !ok {
		return criLine{}, false
	}
	stream, rest, ok := bytes.Cut(rest, []byte{' '})
	if !ok || (string(stream) != "stdout" && string(stream) != "stderr") {
		return criLine{}, false
	}
	tag, msg, ok := bytes.Cut(rest, []byte{' '})
	if !ok {
		// An empty log line is "<time> <stream> F" with nothing after the tag.
		tag, msg = rest, nil
	}
	// The tag may carry more flags after ':' in future runtimes.
	flag, _, _ := bytes.Cut(tag, []byte{':'})
	if string(flag) != "P" && string(flag) != "F" {
		return criLine{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	if err != nil {
		return criLine{}, false
	}
	return criLine{time: t, stream: string(stream), partial: string(flag) == "P", msg: msg}, true
}

// podRef says which container wrote a Kubernetes log file.
type podRef struct{ namespace, pod, container string }

// podFromPath reads the pod, namespace and container from a kubelet log
// path: /var/log/containers/<pod>_<namespace>_<container>-<id>.log, or
// /var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log.
func podFromPath(path string) (podRef, bool) {
	base := filepath.Base(path)
	if name, ok := strings.CutSuffix(base, ".log"); ok {
		if parts := strings.Split(name, "_"); len(parts) == 3 {
			i := strings.LastIndexByte(parts[2], '-')
			if i > 0 && len(parts[2])-i-1 == 64 {
				return podRef{namespace: parts[1], pod: parts[0], container: parts[2][:i]}, true
			}
		}
	}
	dir := filepath.Dir(path)
	container := filepath.Base(dir)
	parts := strings.Split(filepath.Base(filepath.Dir(dir)), "_")
	if len(parts) == 3 && filepath.Base(filepath.Dir(filepath.Dir(dir))) == "pods" {
		return podRef{namespace: parts[0], pod: parts[1], container: container}, true
	}
	return podRef{}, false
}

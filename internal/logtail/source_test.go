package logtail

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

func TestDefaultPatterns(t *testing.T) {
	ps, err := LoadPatterns("")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		line, pattern string
		groups        map[string]string
	}{
		{`dial tcp: lookup user.prod.svc.cluster.local on 10.96.0.10:53: read udp 10.244.1.7:41234->10.96.0.10:53: i/o timeout`,
			"dns-lookup-timeout", map[string]string{"peer": "user.prod.svc.cluster.local", "code": "DNS"}},
		{`rpc error: code = DeadlineExceeded desc = context deadline exceeded`, "grpc-deadline-exceeded", map[string]string{"code": "DeadlineExceeded"}},
		{`io.grpc.StatusRuntimeException: DEADLINE_EXCEEDED: deadline exceeded after 2.9s`, "grpc-deadline-exceeded", map[string]string{"code": "DEADLINE_EXCEEDED"}},
		{`Get "http://user:8080/v1/users": context deadline exceeded`, "context-deadline-exceeded", map[string]string{"method": "Get", "peer": "http://user:8080/v1/users"}},
		{`call failed: context deadline exceeded`, "context-deadline-exceeded", map[string]string{}},
		{`dial tcp 10.0.3.17:8080: i/o timeout`, "io-timeout", map[string]string{"peer": "10.0.3.17:8080"}},
		{`read tcp 10.0.0.1:5555->10.0.3.17:8080: i/o timeout`, "io-timeout", map[string]string{"peer": "10.0.3.17:8080"}},
		{`GET /healthz 200 1ms`, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.line, func(t *testing.T) {
			p, groups := match(ps, []byte(tt.line))
			if tt.pattern == "" {
				if p != nil {
					t.Fatalf("matched %s", p.Name)
				}
				return
			}
			if p == nil || p.Name != tt.pattern || p.Type != event.TypeRPCTimeout {
				t.Fatalf("pattern %+v, want %s", p, tt.pattern)
			}
			if len(groups) != len(tt.groups) {
				t.Fatalf("groups %v, want %v", groups, tt.groups)
			}
			for k, v := range tt.groups {
				if groups[k] != v {
					t.Errorf("group %s = %q, want %q", k, groups[k], v)
				}
			}
		})
	}
}

func TestBadPatternFiles(t *testing.T) {
	tests := []struct{ name, yaml, mention string }{
		{"unknown field", "patterns:\n  - name: a\n    regexp: x\n", `line 3: field regexp not found`},
		{"bad regex", "patterns:\n  - name: a\n    regex: '(unclosed'\n", `p.yaml:2: pattern "a": regex: error parsing regexp`},
		{"unknown group", "patterns:\n  - name: a\n    regex: '(?P<host>x)'\n", `regex group "host"`},
		{"duplicate name", "patterns:\n  - name: a\n    regex: x\n  - name: a\n    regex: y\n", `p.yaml:4: pattern "a": name used twice`},
		{"bad type", "patterns:\n  - name: a\n    regex: x\n    type: Timeout\n", `type: invalid attribute`},
		{"no name", "patterns:\n  - regex: x\n", `name is required`},
		{"no regex", "patterns:\n  - name: a\n", `regex is required`},
		{"empty", "patterns: []\n", `no patterns`},
		{"contains not in regex", "patterns:\n  - name: a\n    regex: 'i/o timeout'\n    contains: deadline\n", `contains "deadline" does not appear`},
		{"not yaml", "patterns: [\n", `p.yaml: yaml`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePatterns("p.yaml", []byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.mention) {
				t.Fatalf("err = %v, want mention of %q", err, tt.mention)
			}
		})
	}
	if _, err := LoadPatterns(filepath.Join(t.TempDir(), "missing.yaml")); err == nil || !strings.Contains(err.Error(), "missing.yaml") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestPodFromPath(t *testing.T) {
	id := strings.Repeat("ab", 32)
	tests := []struct {
		path string
		want podRef
		ok   bool
	}{
		{"/var/log/containers/order-5d8f7c9b4-x2x9z_prod_app-" + id + ".log", podRef{"prod", "order-5d8f7c9b4-x2x9z", "app"}, true},
		{"/var/log/containers/coredns-abc_kube-system_coredns-sidecar-" + id + ".log", podRef{"kube-system", "coredns-abc", "coredns-sidecar"}, true},
		{"/var/log/pods/prod_order-5d8f7c9b4-x2x9z_0b9f7c1e-1111-2222-3333-444455556666/app/0.log", podRef{"prod", "order-5d8f7c9b4-x2x9z", "app"}, true},
		{"/var/log/app/server.log", podRef{}, false},
		{"/var/log/a_b_c-short.log", podRef{}, false},
	}
	for _, tt := range tests {
		got, ok := podFromPath(tt.path)
		if ok != tt.ok || got != tt.want {
			t.Errorf("podFromPath(%s) = %+v %v", tt.path, got, ok)
		}
	}
}

func TestParseCRI(t *testing.T) {
	tests := []struct {
		line    string
		ok      bool
		partial bool
		msg     string
	}{
		{"2020-06-14T13:15:40.123456789+08:00 stderr F rpc error: code = DeadlineExceeded", true, false, "rpc error: code = DeadlineExceeded"},
		{"2020-06-14T05:15:40.1Z stdout P first half ", true, true, "first half "},
		{"2020-06-14T05:15:40.1Z stdout F", true, false, ""},
		{"2020-06-14T05:15:40.1Z stdin F x", false, false, ""},
		{"not a cri line at all", false, false, ""},
		{"2020-06-14 stdout F x", false, false, ""},
	}
	for _, tt := range tests {
		c, ok := parseCRI([]byte(tt.line))
		if ok != tt.ok || (ok && (c.partial != tt.partial || string(c.msg) != tt.msg)) {
			t.Errorf("parseCRI(%q) = %+v %v", tt.line, c, ok)
		}
	}
}

type recorder struct {
	mu  sync.Mutex
	evs []event.RPCTimeout
	typ []string
}

func (r *recorder) Emit(_ context.Context, typ string, t time.Time, data any) error {
	ev, err := event.New(typ, "test", "c", "n", t, data)
	if err != nil {
		return err
	}
	var d event.RPCTimeout
	if err := json.Unmarshal(ev.Data, &d); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.evs = append(r.evs, d)
	r.typ = append(r.typ, typ)
	return nil
}

// TestCRIContainerLog tails a kubelet container log: P partials are joined,
// the pod is read from the file name, the CRI time stamps the event, and
// repeats are rolled up per (file, pattern) and interval.
func TestCRIContainerLog(t *testing.T) {
	dir := t.TempDir()
	logs := filepath.Join(dir, "containers")
	if err := os.Mkdir(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(logs, "order-5d8f7c9b4-x2x9z_prod_app-"+strings.Repeat("0f", 32)+".log")
	f := create(t, name)
	ps, err := LoadPatterns("")
	if err != nil {
		t.Fatal(err)
	}
	src, err := New(Config{Globs: []string{filepath.Join(logs, "*.log")}, Patterns: ps, StateDir: dir, Rollup: time.Minute}, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer src.tailer.Close()
	now := time.Date(2020, 6, 14, 13, 15, 40, 0, time.UTC)
	src.now = func() time.Time { return now }
	rec := &recorder{}
	ctx := context.Background()
	src.poll(ctx, rec) // first poll: existing content skipped, file tracked

	appendTo(t, f, "2020-06-14T13:15:40.5Z stderr P call user.GetUser failed: rpc error: code = Deadline\n")
	appendTo(t, f, "2020-06-14T13:15:40.5Z stderr F Exceeded desc = context deadline exceeded\n")
	appendTo(t, f, "2020-06-14T13:15:41Z stdout F GET /healthz 200\n")
	src.poll(ctx, rec)
	if len(rec.evs) != 1 {
		t.Fatalf("events %+v", rec.evs)
	}
	d := rec.evs[0]
	if d.Pattern != "grpc-deadline-exceeded" || d.Code != "DeadlineExceeded" || d.Pod != "order-5d8f7c9b4-x2x9z" || d.Namespace != "prod" ||
		d.Container != "app" || d.File != name || d.Count != 1 || !d.First.Equal(time.Date(2020, 6, 14, 13, 15, 40, 5e8, time.UTC)) ||
		!strings.HasPrefix(d.Sample, "call user.GetUser failed: rpc error: code = DeadlineExceeded desc") {
		t.Fatalf("event %+v", d)
	}
	// 100 more timeouts over 10 s: one rollup when the interval has passed.
	for i := range 100 {
		at := time.Date(2020, 6, 14, 13, 15, 41, 0, time.UTC).Add(time.Duration(i) * 100 * time.Millisecond)
		appendTo(t, f, at.Format(time.RFC3339Nano)+" stderr F rpc error: code = DeadlineExceeded desc = context deadline exceeded\n")
	}
	src.poll(ctx, rec)
	if len(rec.evs) != 1 {
		t.Fatalf("repeats published before the interval ended: %d events", len(rec.evs))
	}
	now = now.Add(2 * time.Minute)
	src.poll(ctx, rec)
	if len(rec.evs) != 2 {
		t.Fatalf("events after the interval: %+v", rec.evs)
	}
	r := rec.evs[1]
	if r.Count != 100 || !r.First.Equal(time.Date(2020, 6, 14, 13, 15, 41, 0, time.UTC)) || !r.Last.Equal(time.Date(2020, 6, 14, 13, 15, 50, 9e8, time.UTC)) {
		t.Fatalf("rollup %+v", r)
	}
}

func TestConfigValidate(t *testing.T) {
	_, err := New(Config{Poll: time.Millisecond}, quiet())
	for _, want := range []string{"log globs", "log patterns", "state dir", "log poll 1ms"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want mention of %q", err, want)
		}
	}
}

package collector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/collector"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/router"
)

// TestMemoryBeforeTheCrash runs the real collector in one boot of a
// fixture host, then again after the host "crashed" into a new boot whose
// saved kernel log holds the cause but no memory: node.reboot carries the
// memory the node had at its last heartbeat, so not-OOM can be said; and
// the shipped rules say it only when the cause is not memory running out,
// which a snapshot taken before the crash cannot rule out.
func TestMemoryBeforeTheCrash(t *testing.T) {
	line := func(at time.Time, ts, text string) string {
		return at.Format(time.Stamp) + " host-138 kernel: [" + ts + "] " + text + "\n"
	}
	for _, tc := range []struct {
		name    string
		kernLog func(at time.Time) string
		cause   string
		// said: rule → what its alert says (headline, summary or memory
		// annotation); "" means the rule raises nothing.
		said map[string]string
	}{
		{
			name: "kernel BUG",
			kernLog: func(at time.Time) string {
				return line(at, " 3001.000000", "------------[ cut here ]------------") +
					line(at, " 3001.000001", "kernel BUG at /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h:2582!")
			},
			cause: event.CauseKernelBug,
			said:  map[string]string{"not-oom": "not memory exhaustion", "known-kernel-bug": "(not OOM)"},
		},
		{
			// panic_on_oom: the OOM report's memory lines are not the
			// meminfo the collector parses, so the heartbeat's is all there
			// is, and it showed memory to spare.
			name: "panic_on_oom",
			kernLog: func(at time.Time) string {
				return line(at, " 3001.000000", "java invoked oom-killer: gfp_mask=0x100cca(GFP_HIGHUSER_MOVABLE), order=0, oom_score_adj=934") +
					line(at, " 3001.000100", "Mem-Info:") +
					line(at, " 3001.000200", "Kernel panic - not syncing: Out of memory: system-wide panic_on_oom is enabled")
			},
			cause: event.CauseOOM,
			said:  map[string]string{"not-oom": "", "node-reboot-unclean": "java invoked oom-killer; global OOM (panic_on_oom)"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, reboot := rebootAfter(t, tc.kernLog)
			if r.Cause != tc.cause {
				t.Fatalf("node.reboot cause %q (%s), want %q", r.Cause, r.CauseDetail, tc.cause)
			}
			set, err := router.LoadRules("../../rules", nil)
			if err != nil {
				t.Fatal(err)
			}
			said := map[string]string{}
			for _, a := range correlate.New(set, bustest.Logger(t), correlate.Options{}).Process(reboot, correlate.Meta{Arrival: reboot.Time}) {
				said[a.Rule] = a.Headline + " | " + a.Summary + " | " + a.Annotations["memory"]
			}
			for rule, want := range tc.said {
				switch got, ok := said[rule]; {
				case want == "" && ok:
					t.Errorf("%s on the collector's reboot report says %q; want no alert", rule, got)
				case want != "" && !strings.Contains(got, want):
					t.Errorf("%s on the collector's reboot report says %q, want %q", rule, got, want)
				}
			}
		})
	}
}

// rebootAfter runs the collector in boot A of a fixture host with ample
// memory until its heartbeat state holds the memory, then in boot B,
// whose saved kern.log is kernLog(a time 5s after A's last heartbeat),
// until it publishes node.reboot; it checks the report carries A's last
// heartbeat memory and the kern.log's time of the cause, and returns it.
func rebootAfter(t *testing.T, kernLog func(at time.Time) string) (event.Reboot, *event.Event) {
	t.Helper()
	const bootA, bootB = "281c2a66-2bb2-4274-b979-e1f50cc56fd0", "6c1d8f0e-58a4-4c36-9d64-3f6f8d1b2a77"
	root, state := t.TempDir(), t.TempDir()
	meminfo := "MemTotal:       16266500 kB\nMemFree:         3250000 kB\nMemAvailable:   12860000 kB\nBuffers:          120000 kB\nCached:         13000000 kB\nSwapFree:              0 kB\n"
	writeTree(t, root, map[string]string{
		"proc/sys/kernel/random/boot_id": bootA + "\n",
		"proc/stat":                      "cpu  1 2 3 4\nbtime 1592000000\n",
		"proc/uptime":                    "3000.5 60.1\n",
		"proc/sys/kernel/osrelease":      "4.4.0-104-generic\n",
		"proc/meminfo":                   meminfo,
	})
	srv := bustest.Server(t)
	conn := bustest.Connect(t, srv)
	if _, err := bus.Provision(context.Background(), conn.JS, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	run := func(until func() bool, what string) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			done <- collector.Run(ctx, collector.Options{
				NATS: bus.Options{URL: srv.ClientURL()}, Cluster: "prod", Node: "172.21.128.138",
				HostRoot: root, StateDir: state, HTTPAddr: "127.0.0.1:0",
				Heartbeat: 100 * time.Millisecond, PublishTimeout: time.Second,
			}, bustest.Logger(t))
		}()
		bustest.Eventually(t, what, until)
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	// Boot A: heartbeats carry the memory, and the state dir keeps it.
	// The state is written once the spool has the heartbeat, which may be
	// before the stream has it: wait for both.
	var hb event.Heartbeat
	run(func() bool {
		b, _ := os.ReadFile(filepath.Join(state, "reboot", "heartbeat"))
		if !strings.Contains(string(b), `"mem_available_kb":12860000`) {
			return false
		}
		for _, e := range storedEvents(t, conn.JS) {
			if e.Type == event.TypeHeartbeat {
				if err := json.Unmarshal(e.Data, &hb); err != nil {
					t.Fatal(err)
				}
				return true
			}
		}
		return false
	}, "heartbeat state with memory, and a heartbeat stored")
	if hb.Meminfo == nil || hb.Meminfo.MemAvailableKB != 12860000 || hb.Meminfo.CachedKB != 13000000 {
		t.Fatalf("node.heartbeat memory %+v", hb.Meminfo)
	}
	// The node dies (its kern.log says of what), and boots again with
	// memory nearly empty, as any fresh boot's reading would be.
	b, _ := os.ReadFile(filepath.Join(state, "reboot", "heartbeat"))
	fields := strings.Fields(string(b))
	lastBeat, err := time.Parse(time.RFC3339Nano, fields[1])
	if err != nil {
		t.Fatal(err)
	}
	// kern.log's timestamps have neither zone nor year: the host is in
	// Shanghai, as the 2020-06 cluster was (the collector once read them
	// as UTC in the current year, 8 h off).
	tz, err := os.ReadFile("../reboot/testdata/localtime-Asia-Shanghai")
	if err != nil {
		t.Fatal(err)
	}
	died := lastBeat.Add(5 * time.Second).In(time.FixedZone("CST", 8*3600))
	writeTree(t, root, map[string]string{
		"etc/localtime":                  string(tz),
		"proc/sys/kernel/random/boot_id": bootB + "\n",
		"proc/stat":                      fmt.Sprintf("cpu  1 2 3 4\nbtime %d\n", lastBeat.Add(time.Minute).Unix()),
		"proc/uptime":                    "30.5 60.1\n",
		"proc/meminfo":                   strings.Replace(meminfo, "MemAvailable:   12860000", "MemAvailable:     100000", 1),
		"var/log/kern.log":               kernLog(died),
	})
	var r event.Reboot
	var reboot *event.Event
	run(func() bool {
		for _, e := range storedEvents(t, conn.JS) {
			if e.Type == event.TypeReboot {
				reboot = e
				return json.Unmarshal(e.Data, &r) == nil
			}
		}
		return false
	}, "node.reboot stored")
	if r.Meminfo == nil || r.Meminfo.MemAvailableKB != 12860000 || r.MeminfoSource != event.MeminfoFromHeartbeat || !r.MeminfoAt.Equal(lastBeat) {
		t.Fatalf("node.reboot memory %+v from %q at %s; want boot A's last heartbeat memory at %s",
			r.Meminfo, r.MeminfoSource, r.MeminfoAt, lastBeat)
	}
	if want := died.Truncate(time.Second); !r.CauseTime.Equal(want) || r.MeminfoAgeSeconds <= 0 {
		t.Fatalf("node.reboot cause_time %s (memory %gs before it); want kern.log's %s", r.CauseTime, r.MeminfoAgeSeconds, want)
	}
	return r, reboot
}

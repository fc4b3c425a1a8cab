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
// memory the node had at its last heartbeat, so not-OOM can be said.
func TestMemoryBeforeTheCrash(t *testing.T) {
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
	run(func() bool {
		b, _ := os.ReadFile(filepath.Join(state, "reboot", "heartbeat"))
		return strings.Contains(string(b), `"mem_available_kb":12860000`)
	}, "heartbeat state with memory")
	var hb event.Heartbeat
	for _, e := range storedEvents(t, conn.JS) {
		if e.Type == event.TypeHeartbeat {
			if err := json.Unmarshal(e.Data, &hb); err != nil {
				t.Fatal(err)
			}
		}
	}
	if hb.Meminfo == nil || hb.Meminfo.MemAvailableKB != 12860000 || hb.Meminfo.CachedKB != 13000000 {
		t.Fatalf("node.heartbeat memory %+v", hb.Meminfo)
	}
	// The node dies of a kernel BUG (its kern.log says so), and boots
	// again with memory nearly empty, as any fresh boot's reading would be.
	b, _ := os.ReadFile(filepath.Join(state, "reboot", "heartbeat"))
	fields := strings.Fields(string(b))
	lastBeat, err := time.Parse(time.RFC3339Nano, fields[1])
	if err != nil {
		t.Fatal(err)
	}
	bugAt := lastBeat.Add(5 * time.Second).Local()
	writeTree(t, root, map[string]string{
		"proc/sys/kernel/random/boot_id": bootB + "\n",
		"proc/stat":                      fmt.Sprintf("cpu  1 2 3 4\nbtime %d\n", lastBeat.Add(time.Minute).Unix()),
		"proc/uptime":                    "30.5 60.1\n",
		"proc/meminfo":                   strings.Replace(meminfo, "MemAvailable:   12860000", "MemAvailable:     100000", 1),
		"var/log/kern.log": bugAt.Format(time.Stamp) + " host-138 kernel: [ 3001.000000] ------------[ cut here ]------------\n" +
			bugAt.Format(time.Stamp) + " host-138 kernel: [ 3001.000001] kernel BUG at /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h:2582!\n",
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
	if r.Cause != event.CauseKernelBug || r.Meminfo == nil || r.Meminfo.MemAvailableKB != 12860000 ||
		r.MeminfoSource != event.MeminfoFromHeartbeat || !r.MeminfoAt.Equal(lastBeat) {
		t.Fatalf("node.reboot cause %q memory %+v from %q at %s; want the kernel BUG and boot A's last heartbeat memory at %s",
			r.Cause, r.Meminfo, r.MeminfoSource, r.MeminfoAt, lastBeat)
	}
	// What the shipped rules make of that report: not OOM, said by the
	// page people get (the known bug's, which stands in for not-oom).
	set, err := router.LoadRules("../../rules", nil)
	if err != nil {
		t.Fatal(err)
	}
	said := map[string]string{}
	for _, a := range correlate.New(set, bustest.Logger(t), correlate.Options{}).Process(reboot, correlate.Meta{Arrival: reboot.Time}) {
		said[a.Rule] = a.Headline + " | " + a.Summary + " | " + a.Annotations["memory"]
	}
	for rule, want := range map[string]string{
		"not-oom":          "not memory exhaustion",
		"known-kernel-bug": "(not OOM)",
	} {
		if !strings.Contains(said[rule], want) {
			t.Errorf("%s on the collector's reboot report says %q, want %q", rule, said[rule], want)
		}
	}
}

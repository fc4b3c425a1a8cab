package collector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/collector"
	"github.com/aftershock/aftershock/internal/event"
)

// TestOOMNamesThePod runs the collector on a host root with two pods' log
// directories and feeds its kmsg FIFO a cgroup v1 (cgroupfs) and a cgroup v2
// (systemd slices) memcg OOM: each kernel.oom names the namespace, pod and
// container of the memcg, joined with the node's pod list; a third OOM of a
// pod already gone keeps its UID and names nothing.
func TestOOMNamesThePod(t *testing.T) {
	const (
		uidV1 = "4c9f3a7e-ae21-11ea-9c49-5254006f7a1b"
		cidV1 = "2fa0c9d4ab53b6e1a48e1e3cd5b27cd0b96fe49e0d8d4dc1cd83d3d5e2a53f61"
		uidV2 = "5d0b7e34-9c1f-4c2a-8a61-2f0e4b7d9c11"
		cidV2 = "8f0e3c1d5a7b9e2f4c6d8a0b1e3f5c7d9a1b3e5f7c9d1a3b5e7f9c1d3a5b7e9f"
		gone  = "7f1e2d3c-4b5a-4968-8776-000000005500"
	)
	s := bustest.Server(t)
	conn := bustest.Connect(t, s)
	root := t.TempDir()
	for name, body := range map[string]string{
		"proc/sys/kernel/random/boot_id": "281c2a66-2bb2-4274-b979-e1f50cc56fd0\n",
		"proc/uptime":                    "80000.00 1000.00\n",
		"proc/meminfo":                   "MemTotal: 32778000 kB\nMemFree: 9100000 kB\nMemAvailable: 21400000 kB\n",
		"var/log/pods/shop_checkout-7d9f8c6b5-x2x4z_" + uidV1 + "/app/0.log":                "",
		"var/log/pods/kube-system_coredns-5c98db65d4-q7wzt_" + uidV2 + "/coredns/0.log":     "",
		"var/log/containers/checkout-7d9f8c6b5-x2x4z_shop_app-" + cidV1 + ".log":            "",
		"var/log/containers/coredns-5c98db65d4-q7wzt_kube-system_coredns-" + cidV2 + ".log": "",
	} {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dev := filepath.Join(root, "dev/kmsg")
	if err := os.MkdirAll(filepath.Dir(dev), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(dev, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- collector.Run(ctx, collector.Options{
			NATS: bus.Options{URL: s.ClientURL()}, Cluster: "dev", Node: "node-1", HostRoot: root,
			StateDir: t.TempDir(), HTTPAddr: "127.0.0.1:0", Heartbeat: time.Hour, Kmsg: "/dev/kmsg",
		}, bustest.Logger(t))
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	w, err := os.OpenFile(dev, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	v1 := "/kubepods/burstable/pod" + uidV1 + "/" + cidV1
	v2 := "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5d0b7e34_9c1f_4c2a_8a61_2f0e4b7d9c11.slice/cri-containerd-" + cidV2 + ".scope"
	seq := 100
	rec := func(usec int64, text string) string {
		seq++
		return fmt.Sprintf("4,%d,%d,-;%s\n", seq, usec, text)
	}
	for _, r := range []string{
		// cgroup v1, a 4.4 kernel (mm/memcontrol.c mem_cgroup_print_oom_info).
		rec(79000000000, "java invoked oom-killer: gfp_mask=0x24000c0, order=0, oom_score_adj=994"),
		rec(79000000010, "CPU: 1 PID: 17801 Comm: java Not tainted 4.4.0-104-generic #127-Ubuntu"),
		rec(79000000020, "Task in "+v1+" killed as a result of limit of "+v1),
		rec(79000000030, "Memory cgroup out of memory: Kill process 17790 (java) score 1990 or sacrifice child"),
		rec(79000000040, "Killed process 17790 (java) total-vm:5242880kB, anon-rss:1041380kB, file-rss:6808kB"),
		// cgroup v2, systemd driver, a 5.15 kernel (oom-kill: summary line).
		rec(79100000000, "coredns invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=-997"),
		rec(79100000010, "CPU: 2 PID: 18841 Comm: coredns Not tainted 5.15.0-91-generic #101-Ubuntu"),
		rec(79100000020, "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=cri-containerd-"+cidV2+".scope,mems_allowed=0,oom_memcg="+v2+",task_memcg="+v2+",task=coredns,pid=18841,uid=0"),
		rec(79100000030, "Memory cgroup out of memory: Killed process 18841 (coredns) total-vm:787336kB, anon-rss:172416kB, file-rss:3632kB, shmem-rss:0kB, UID:0 pgtables:476kB oom_score_adj:-997"),
		// A pod the node no longer lists.
		rec(79200000000, "java invoked oom-killer: gfp_mask=0xcc0(GFP_KERNEL), order=0, oom_score_adj=994"),
		rec(79200000020, "oom-kill:constraint=CONSTRAINT_MEMCG,nodemask=(null),cpuset=/,mems_allowed=0,oom_memcg=/kubepods/burstable/pod"+gone+",task_memcg=/kubepods/burstable/pod"+gone+"/4e6a8c0b2d4f,task=java,pid=30000,uid=1000"),
		rec(79200000030, "Memory cgroup out of memory: Killed process 30000 (java) total-vm:6123456kB, anon-rss:2090000kB, file-rss:7152kB, shmem-rss:0kB, UID:1000 pgtables:4520kB oom_score_adj:994"),
	} {
		if _, err := w.WriteString(r); err != nil {
			t.Fatal(err)
		}
	}
	var ooms []event.OOM
	bustest.Eventually(t, "three kernel.oom stored", func() bool {
		ooms = ooms[:0]
		for _, ev := range eventsOn(t, conn.JS, "events.dev.node-1.kernel") {
			var o event.OOM
			if ev.Type == event.TypeKernelOOM && json.Unmarshal(ev.Data, &o) == nil {
				ooms = append(ooms, o)
			}
		}
		return len(ooms) == 3
	})
	want := []struct{ uid, ns, pod, container string }{
		{uidV1, "shop", "checkout-7d9f8c6b5-x2x4z", "app"},
		{uidV2, "kube-system", "coredns-5c98db65d4-q7wzt", "coredns"},
		{gone, "", "", ""},
	}
	for i, w := range want {
		o := ooms[i]
		if o.PodUID != w.uid || o.Namespace != w.ns || o.Pod != w.pod || o.Container != w.container || o.Constraint != event.OOMMemcg {
			t.Errorf("oom %d: uid %q namespace %q pod %q container %q constraint %q, want %+v", i, o.PodUID, o.Namespace, o.Pod, o.Container, o.Constraint, w)
		}
	}
}

// eventsOn reads every event stored on a subject ("prefix.>" matches what
// starts with prefix), in order.
func eventsOn(t *testing.T, js jetstream.JetStream, subject string) []*event.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	prefix, wild := strings.CutSuffix(subject, ">")
	var out []*event.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue // deleted
		}
		if m.Subject != subject && !(wild && strings.HasPrefix(m.Subject, prefix)) {
			continue
		}
		ev, err := event.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

package collector_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/bus/embedded"
	"github.com/aftershock/aftershock/internal/collector"
	"github.com/aftershock/aftershock/internal/event"
)

func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, body := range files {
		full := filepath.Join(dir, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRebootAfterCrashWhileNATSIsDown starts a collector on a node that
// crashed (kdump saved a dmesg and a vmcore) while NATS is down: node.reboot
// waits in the spool with the heartbeats and posture, and is the first event
// stored when NATS returns. Posture carries kdump readiness and the pods.
// Stopping the collector leaves the stop marker.
func TestRebootAfterCrashWhileNATSIsDown(t *testing.T) {
	const prevID, curID = "281c2a66-2bb2-4274-b979-e1f50cc56fd0", "6c1d8f0e-58a4-4c36-9d64-3f6f8d1b2a77"
	dmesg, err := os.ReadFile("../reboot/testdata/vmcore-dmesg-null-deref.txt")
	if err != nil {
		t.Fatal(err)
	}
	root, state := t.TempDir(), t.TempDir()
	crashDir := "var/crash/127.0.0.1-2020-06-14-13:14:38/"
	writeTree(t, root, map[string]string{
		"proc/sys/kernel/random/boot_id": curID + "\n",
		"proc/stat":                      "cpu  1 2 3 4\nbtime 1592111706\n",
		"proc/uptime":                    "30.5 60.1\n",
		"proc/sys/kernel/osrelease":      "5.4.0-42-generic\n",
		"proc/cmdline":                   "BOOT_IMAGE=/boot/vmlinuz-5.4.0-42-generic root=/dev/vda1 ro crashkernel=512M-:192M\n",
		"sys/kernel/kexec_crash_loaded":  "1\n",
		"sys/kernel/kexec_crash_size":    "201326592\n",
		crashDir + "vmcore-dmesg.txt":    string(dmesg),
		crashDir + "vmcore":              "ELF",
		"var/log/pods/kube-system_coredns-5c98db65d4-8x2kq_6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f/coredns/0.log": "",
		"var/log/pods/default_web-7d4b9c8f6-abcde_0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/":                       "",
		"etc/os-release": "PRETTY_NAME=\"Ubuntu 20.04.6 LTS\"\nID=ubuntu\nVERSION_ID=\"20.04\"\n",
	})
	writeTree(t, state, map[string]string{
		"reboot/boot.json": fmt.Sprintf(`{"boot_id":%q,"boot_time":"2020-06-11T02:58:02Z","kernel_release":"5.4.0-42-generic"}`, prevID),
		"reboot/heartbeat": prevID + " 2020-06-14T05:14:30Z\n",
	})

	// A JetStream server that is down when the collector starts.
	natsDir := t.TempDir()
	srv, err := embedded.Start(bus.EmbeddedOptions{StateDir: natsDir, Port: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	port := srv.Addr().(*net.TCPAddr).Port
	conn, err := bus.Connect(context.Background(), bus.Options{URL: srv.ClientURL(), Background: true}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.NC.Close)
	if _, err := bus.Provision(context.Background(), conn.JS, bus.DefaultTopology()); err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- collector.Run(ctx, collector.Options{
			NATS: bus.Options{URL: fmt.Sprintf("nats://127.0.0.1:%d", port)}, Cluster: "prod", Node: "172.21.128.138",
			HostRoot: root, StateDir: state, HTTPAddr: "127.0.0.1:0",
			Heartbeat: 100 * time.Millisecond, PublishTimeout: time.Second, KdumpMinFreeMB: 1,
		}, bustest.Logger(t))
	}()
	stopped := false
	stop := func() {
		if !stopped {
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}
	}
	t.Cleanup(stop)
	bustest.Eventually(t, "events spooled while NATS is down", func() bool {
		m, _ := filepath.Glob(filepath.Join(state, "spool", "*.seg"))
		return len(m) > 0
	})

	srv, err = embedded.Start(bus.EmbeddedOptions{StateDir: natsDir, Port: port}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Shutdown(); srv.WaitForShutdown() })
	var evs []*event.Event
	bustest.Eventually(t, "reboot, posture and heartbeats stored", func() bool {
		evs = storedEvents(t, conn.JS)
		types := map[string]bool{}
		for _, e := range evs {
			types[e.Type] = true
		}
		return types[event.TypeReboot] && types[event.TypePosture] && types[event.TypeHeartbeat]
	})
	if evs[0].Type != event.TypeReboot {
		t.Fatalf("first stored event is %s: node.reboot was not first out of the spool", evs[0].Type)
	}
	var r event.Reboot
	if err := json.Unmarshal(evs[0].Data, &r); err != nil {
		t.Fatal(err)
	}
	if r.PreviousBootID != prevID || r.BootID != curID || r.Clean || r.Cause != event.CauseKernelBug ||
		r.CauseType != event.TypeKernelBug || !slices.Equal(r.Sources, []string{"kdump"}) ||
		r.Vmcore != "/"+crashDir+"vmcore" || r.PreviousKernel != "5.4.0-42-generic" ||
		!r.LastHeartbeat.Equal(time.Date(2020, 6, 14, 5, 14, 30, 0, time.UTC)) || !evs[0].Time.Equal(time.Unix(1592111706, 0)) {
		t.Fatalf("node.reboot %+v at %s", r, evs[0].Time)
	}
	if evs[0].NATSSubject(false) != "events.prod.172_21_128_138.reboot" {
		t.Fatalf("subject %s", evs[0].NATSSubject(false))
	}
	for _, e := range evs {
		if e.Type != event.TypePosture {
			continue
		}
		var p event.Posture
		if err := json.Unmarshal(e.Data, &p); err != nil {
			t.Fatal(err)
		}
		if p.Kdump == nil || !p.Kdump.Ready || p.Kdump.CrashKernel != "512M-:192M" || len(p.Pods) != 2 ||
			!reflect.DeepEqual(p.Pods[1], event.PodRef{Namespace: "kube-system", Name: "coredns-5c98db65d4-8x2kq", UID: "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"}) {
			t.Fatalf("posture %+v kdump %+v", p, p.Kdump)
		}
	}

	stop()
	b, err := os.ReadFile(filepath.Join(state, "reboot", "stop.json"))
	if err != nil || !strings.Contains(string(b), curID) || !strings.Contains(string(b), `"system_stopping":false`) {
		t.Fatalf("stop marker %s, %v", b, err)
	}
	if b, err := os.ReadFile(filepath.Join(state, "reboot", "heartbeat")); err != nil || !strings.HasPrefix(string(b), curID+" ") {
		t.Fatalf("heartbeat state %q, %v", b, err)
	}
}

func storedEvents(t *testing.T, js jetstream.JetStream) []*event.Event {
	t.Helper()
	ctx := context.Background()
	st, err := js.Stream(ctx, bus.StreamEvents)
	if err != nil {
		return nil
	}
	info, err := st.Info(ctx)
	if err != nil || info.State.Msgs == 0 {
		return nil
	}
	var evs []*event.Event
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			continue
		}
		ev, err := event.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	return evs
}

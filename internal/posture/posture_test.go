package posture_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/posture"
)

func tree(t testing.TB, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, body := range files {
		full := filepath.Join(root, p)
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
	return root
}

func TestKdump(t *testing.T) {
	ready := map[string]string{
		"proc/cmdline":                  "BOOT_IMAGE=/boot/vmlinuz-5.15.0-91-generic root=/dev/vda1 ro crashkernel=512M-:192M quiet\n",
		"sys/kernel/kexec_crash_loaded": "1\n",
		"sys/kernel/kexec_crash_size":   "201326592\n",
		"var/crash/":                    "",
	}
	with := func(changes map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range ready {
			m[k] = v
		}
		for k, v := range changes {
			if v == "-" {
				delete(m, k)
			} else {
				m[k] = v
			}
		}
		return m
	}
	tests := []struct {
		name     string
		files    map[string]string
		minFree  int64
		ready    bool
		crashDir string
		reasons  []string // substrings, one per reason
	}{
		{name: "ready", files: ready, minFree: 1, ready: true, crashDir: "/var/crash"},
		{name: "no crashkernel (the 2020-06 incident)", files: with(map[string]string{"proc/cmdline": "BOOT_IMAGE=/boot/vmlinuz-4.4.0-104-generic root=UUID=4b0b ro console=ttyS0 panic=5\n", "sys/kernel/kexec_crash_loaded": "0\n"}),
			minFree: 1, crashDir: "/var/crash", reasons: []string{"no crashkernel=", "no crash kernel loaded"}},
		{name: "crashkernel set, nothing reserved", files: with(map[string]string{"sys/kernel/kexec_crash_size": "0\n", "sys/kernel/kexec_crash_loaded": "0\n"}),
			minFree: 1, crashDir: "/var/crash", reasons: []string{"reserved nothing", "no crash kernel loaded"}},
		{name: "kdump service not running", files: with(map[string]string{"sys/kernel/kexec_crash_loaded": "0\n"}),
			minFree: 1, crashDir: "/var/crash", reasons: []string{"no crash kernel loaded"}},
		{name: "no crash dir", files: with(map[string]string{"var/crash/": "-"}),
			minFree: 1, crashDir: "/var/crash", reasons: []string{"crash dir /var/crash: statfs"}},
		{name: "crash dir too small", files: ready, minFree: 1 << 40, crashDir: "/var/crash", reasons: []string{"less than 1099511627776 MB free"}},
		{name: "kdump-tools crash dir", files: with(map[string]string{"etc/default/kdump-tools": "USE_KDUMP=1\nKDUMP_COREDIR=\"/data/crash\"\n", "data/crash/": ""}),
			minFree: 1, ready: true, crashDir: "/data/crash"},
		{name: "kdump.conf crash dir", files: with(map[string]string{"etc/kdump.conf": "# comment\npath /srv/crash\ncore_collector makedumpfile -l --message-level 7 -d 31\n", "srv/crash/": ""}),
			minFree: 1, ready: true, crashDir: "/srv/crash"},
		{name: "nothing readable (a bare container)", files: map[string]string{}, minFree: 1, crashDir: "/var/crash",
			reasons: []string{"cannot read /proc/cmdline", "cannot read /sys/kernel/kexec_crash_loaded", "statfs"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := posture.Host{Root: tree(t, tt.files), KdumpMinFreeMB: tt.minFree}
			k := h.Kdump()
			if k.Ready != tt.ready || k.CrashDir != tt.crashDir || len(k.Reasons) != len(tt.reasons) {
				t.Fatalf("kdump %+v, want ready=%v dir=%s reasons like %q", k, tt.ready, tt.crashDir, tt.reasons)
			}
			for i, want := range tt.reasons {
				if !strings.Contains(k.Reasons[i], want) {
					t.Errorf("reason %d %q, want it to contain %q", i, k.Reasons[i], want)
				}
			}
			if tt.ready && (k.CrashKernel != "512M-:192M" || !k.CrashLoaded || k.CrashDirFreeMB <= 0) {
				t.Fatalf("ready kdump %+v", k)
			}
		})
	}
}

func TestPods(t *testing.T) {
	root := tree(t, map[string]string{
		"var/log/pods/kube-system_coredns-5c98db65d4-8x2kq_6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f/coredns/0.log": "",
		"var/log/pods/default_web-0_0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/":                                     "",
		"var/log/pods/kube-system_etcd-master-1_6d5c7b0e3f4a1b2c9d8e7f6a5b4c3d2e/":                             "",
		"var/log/pods/not-a-pod-dir/":           "",
		"var/log/pods/a_b_c_d/":                 "",
		"var/log/pods/_missing-namespace_uid/":  "",
		"var/log/pods/default_file_not-dir.log": "",
	})
	pods, omitted := posture.Host{Root: root}.Pods()
	want := []event.PodRef{
		{Namespace: "default", Name: "web-0", UID: "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"},
		{Namespace: "kube-system", Name: "coredns-5c98db65d4-8x2kq", UID: "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"},
		{Namespace: "kube-system", Name: "etcd-master-1", UID: "6d5c7b0e3f4a1b2c9d8e7f6a5b4c3d2e"},
	}
	if !reflect.DeepEqual(pods, want) || omitted != 0 {
		t.Fatalf("pods %+v (omitted %d), want %+v", pods, omitted, want)
	}
	if pods, _ := (posture.Host{Root: t.TempDir()}).Pods(); pods != nil {
		t.Fatalf("no /var/log/pods: %v", pods)
	}
}

// TestPodsBounded: a node with more pods than an event can carry reports
// what fits and how many were left out, and the posture event stays valid.
func TestPodsBounded(t *testing.T) {
	files := map[string]string{}
	for i := range 1000 {
		files[fmt.Sprintf("var/log/pods/namespace-%04d_deployment-with-a-long-name-7d4b9c8f6-%05d_%08d-4e5f-4a6b-8c7d-9e0f1a2b3c4d/", i, i, i)] = ""
	}
	h := posture.Host{Root: tree(t, files)}
	pods, omitted := h.Pods()
	if len(pods) == 0 || omitted == 0 || len(pods)+omitted != 1000 {
		t.Fatalf("%d pods, %d omitted", len(pods), omitted)
	}
	p := h.Read()
	if _, err := event.New(event.TypePosture, "src", "c", "n", time.Date(2020, 6, 14, 5, 15, 10, 0, time.UTC), p); err != nil {
		t.Fatalf("posture with %d pods: %v", len(p.Pods), err)
	}
}

// TestChangeKey: free space moving does not republish posture; a pod
// starting, or kdump readiness changing, does.
func TestChangeKey(t *testing.T) {
	base := event.Posture{KernelRelease: "5.15.0-91-generic", Kdump: &event.KdumpState{Ready: true, CrashDir: "/var/crash", CrashDirFreeMB: 5000}}
	freeMoved := base
	k := *base.Kdump
	k.CrashDirFreeMB = 4980
	freeMoved.Kdump = &k
	if posture.ChangeKey(base) != posture.ChangeKey(freeMoved) {
		t.Fatal("free space alone changed the key")
	}
	notReady := base
	k2 := *base.Kdump
	k2.Ready, k2.Reasons = false, []string{"no crash kernel loaded"}
	notReady.Kdump = &k2
	podStarted := base
	podStarted.Pods = []event.PodRef{{Namespace: "kube-system", Name: "coredns-x", UID: "u"}}
	for name, p := range map[string]event.Posture{"kdump readiness": notReady, "a pod": podStarted} {
		if posture.ChangeKey(base) == posture.ChangeKey(p) {
			t.Errorf("%s changed but the key did not", name)
		}
	}
	if base.Kdump.CrashDirFreeMB != 5000 {
		t.Fatal("ChangeKey modified its argument")
	}
}

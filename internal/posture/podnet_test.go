package posture_test

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/posture"
)

// fibTrie renders a /proc/net/fib_trie with these local addresses (and
// loopback), as the kernel prints it: each leaf in Main and in Local.
func fibTrie(addrs ...string) string {
	leaves := "     +-- 127.0.0.0/8 2 0 2\n        +-- 127.0.0.0/31 1 0 0\n           |-- 127.0.0.0\n              /8 host LOCAL\n" +
		"           |-- 127.0.0.1\n              /32 host LOCAL\n"
	for _, a := range addrs {
		leaves += "        |-- " + a + "\n           /32 host LOCAL\n        |-- 10.255.255.255\n           /32 link BROADCAST\n"
	}
	return "Main:\n  +-- 0.0.0.0/0 3 0 5\n     |-- 0.0.0.0\n        /0 universe UNICAST\n" + leaves +
		"Local:\n  +-- 0.0.0.0/0 3 0 5\n" + leaves
}

const (
	ifInet6Host = "00000000000000000000000000000001 01 80 10 80       lo\n" +
		"fd000000000000000000000000000005 02 40 00 80     eth0\n" +
		"fe80000000000000020c29fffe123456 02 40 20 80     eth0\n"
	ifInet6Pod = "00000000000000000000000000000001 01 80 10 80       lo\n" +
		"fd000010024400000000000000000042 03 40 00 80     eth0\n" +
		"fe800000000000004c9ab0fffe6e1a2b 03 40 20 80     eth0\n"
)

func TestPodsWithIPs(t *testing.T) {
	const (
		coredns = "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f"
		proxy   = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
		web     = "7c0e4a21-5b3d-4f6e-9a18-2d4c6e8f0b13"
		job     = "9b2d4f6a-8c0e-4a2b-9d4f-6a8c0e2b4d61"
		gone    = "1d3f5a7c-9e1b-4d3f-8a7c-9e1b3d5f7a9c"
		cid     = "8f0e3c1d5a7b9e2f4c6d8a0b1e3f5c7d9a1b3e5f7c9d1a3b5e7f9c1d3a5b7e9f"
	)
	files := map[string]string{
		"var/log/pods/kube-system_coredns-5c98db65d4-q7wzt_" + coredns + "/": "",
		"var/log/pods/kube-system_kube-proxy-x2x4z_" + proxy + "/":           "",
		"var/log/pods/shop_web-0_" + web + "/":                               "",
		"var/log/pods/batch_report-28114560-x7k2p_" + job + "/":              "",
		"var/log/pods/shop_done-1_" + gone + "/":                             "",
		// The host: PID 1.
		"proc/1/cgroup":       "0::/init.scope\n",
		"proc/1/net/fib_trie": fibTrie("10.0.0.5"),
		"proc/1/net/if_inet6": ifInet6Host,
		// CoreDNS, cgroup v1, cgroupfs driver; dual stack; two processes.
		"proc/100/cgroup":       "12:memory:/kubepods/burstable/pod" + coredns + "/" + cid + "\n11:cpu,cpuacct:/kubepods/burstable/pod" + coredns + "/" + cid + "\n",
		"proc/100/net/fib_trie": fibTrie("172.16.3.66"),
		"proc/100/net/if_inet6": ifInet6Pod,
		"proc/101/cgroup":       "12:memory:/kubepods/burstable/pod" + coredns + "/" + cid + "\n",
		"proc/101/net/fib_trie": fibTrie("172.16.3.99"),
		// kube-proxy, host network, cgroup v2, systemd driver.
		"proc/200/cgroup":       "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod0a1b2c3d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice/cri-containerd-" + cid + ".scope\n",
		"proc/200/net/fib_trie": fibTrie("10.0.0.5"),
		"proc/200/net/if_inet6": ifInet6Host,
		// web, seen from a collector in its own cgroup namespace: the path
		// is relative to it.
		"proc/300/cgroup":       "0::/../../kubepods-burstable.slice/kubepods-burstable-pod7c0e4a21_5b3d_4f6e_9a18_2d4c6e8f0b13.slice/cri-containerd-" + cid + ".scope\n",
		"proc/300/net/fib_trie": fibTrie("172.16.3.70"),
		// Not a pod.
		"proc/400/cgroup":       "0::/system.slice/kubelet.service\n",
		"proc/400/net/fib_trie": fibTrie("10.0.0.5"),
		// The job's first process exited between the listing and the read;
		// its second one answers.
		"proc/500/cgroup":       "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod9b2d4f6a_8c0e_4a2b_9d4f_6a8c0e2b4d61.slice/cri-containerd-" + cid + ".scope\n",
		"proc/501/cgroup":       "0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod9b2d4f6a_8c0e_4a2b_9d4f_6a8c0e2b4d61.slice/cri-containerd-" + cid + ".scope\n",
		"proc/501/net/fib_trie": fibTrie("172.16.3.81"),
		"proc/self/cgroup":      "0::/\n",
		"proc/sys/":             "",
	}
	h := posture.Host{Root: tree(t, files)}
	pods, omitted := h.PodsWithIPs()
	want := []event.PodRef{
		{Namespace: "batch", Name: "report-28114560-x7k2p", UID: job, IPs: []string{"172.16.3.81"}},
		{Namespace: "kube-system", Name: "coredns-5c98db65d4-q7wzt", UID: coredns, IPs: []string{"172.16.3.66", "fd00:10:244::42"}},
		{Namespace: "kube-system", Name: "kube-proxy-x2x4z", UID: proxy, HostNetwork: true},
		{Namespace: "shop", Name: "done-1", UID: gone},
		{Namespace: "shop", Name: "web-0", UID: web, IPs: []string{"172.16.3.70"}},
	}
	if !reflect.DeepEqual(pods, want) || omitted != 0 {
		t.Fatalf("pods:\n got %+v\nwant %+v", pods, want)
	}
	p := h.Read()
	if !reflect.DeepEqual(p.Pods, want) {
		t.Fatalf("posture pods %+v", p.Pods)
	}
	if _, err := event.New(event.TypePosture, "src", "c", "n", time.Date(2020, 6, 14, 5, 15, 10, 0, time.UTC), p); err != nil {
		t.Fatal(err)
	}
	// Without /proc the pods are still listed.
	noProc := map[string]string{}
	for k, v := range files {
		if k[:5] != "proc/" {
			noProc[k] = v
		}
	}
	pods, _ = posture.Host{Root: tree(t, noProc)}.PodsWithIPs()
	if len(pods) != 5 || pods[1].IPs != nil || pods[2].HostNetwork {
		t.Fatalf("without /proc: %+v", pods)
	}
}

// BenchmarkPodsWithIPs: a busy node, 110 pods and 3000 processes, read once
// a posture interval.
func BenchmarkPodsWithIPs(b *testing.B) {
	files := map[string]string{"proc/1/cgroup": "0::/init.scope\n", "proc/1/net/fib_trie": fibTrie("10.0.0.5")}
	for i := range 110 {
		uid := fmt.Sprintf("%08d-4e5f-4a6b-8c7d-9e0f1a2b3c4d", i)
		files[fmt.Sprintf("var/log/pods/ns-%d_pod-%d_%s/", i%7, i, uid)] = ""
		slice := fmt.Sprintf("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod%08d_4e5f_4a6b_8c7d_9e0f1a2b3c4d.slice/cri-containerd-%064d.scope", i, i)
		for j := range 20 { // 20 processes a pod, the first with the pod's address
			pid := 1000 + i*20 + j
			files[fmt.Sprintf("proc/%d/cgroup", pid)] = "0::" + slice + "\n"
			files[fmt.Sprintf("proc/%d/net/fib_trie", pid)] = fibTrie(fmt.Sprintf("172.16.%d.%d", i/200, i%200+2))
		}
	}
	for pid := 10; pid < 800; pid++ { // the host's own processes
		files[fmt.Sprintf("proc/%d/cgroup", pid)] = "0::/system.slice/some.service\n"
	}
	h := posture.Host{Root: tree(b, files)}
	b.ResetTimer()
	for b.Loop() {
		if pods, _ := h.PodsWithIPs(); len(pods) != 110 || len(pods[0].IPs) != 1 {
			b.Fatalf("%d pods", len(pods))
		}
	}
}

package event

import "strings"

// Class is the last subject token: it groups types so NATS permissions and
// consumers can filter cheaply.
type Class string

// Subject classes of design.md.
const (
	ClassKernel    Class = "kernel"
	ClassReboot    Class = "reboot"
	ClassDNS       Class = "dns"
	ClassRPC       Class = "rpc"
	ClassHeartbeat Class = "heartbeat"
	ClassPosture   Class = "posture"
	ClassApp       Class = "app"
)

// Event types. docs/events.md documents each with a JSON example; keep the two
// in step (a test checks every constant appears there).
const (
	TypeHeartbeat = "node.heartbeat"
	TypePosture   = "node.posture"
	TypeReboot    = "node.reboot"

	TypeKernelBug          = "kernel.bug"
	TypeKernelPanic        = "kernel.panic"
	TypeKernelLockup       = "kernel.lockup"
	TypeKernelHungTask     = "kernel.hung_task"
	TypeKernelOOM          = "kernel.oom"
	TypeKernelConntrack    = "kernel.conntrack_full"
	TypeKernelNetdevLeak   = "kernel.netdevice_leak"
	TypeKernelFSError      = "kernel.fs_error"
	TypeKernelIOError      = "kernel.io_error"
	TypeKernelNetTxTimeout = "kernel.net_tx_timeout"
	TypeKernelMCE          = "kernel.mce"

	TypeDNSTimeout   = "dns.timeout"
	TypeDNSError     = "dns.error"
	TypeDNSRecovered = "dns.recovered"
	TypeDNSProbe     = "dns.probe"

	TypeRPCTimeout = "rpc.timeout"

	TypeK8sEvent          = "k8s.event"
	TypeAlertmanagerAlert = "alertmanager.alert"
	TypeSpoolDropped      = "collector.spool_dropped"
	TypeTest              = "aftershock.test"
)

// ClassOf maps a type to its subject class; types outside the catalogue's
// namespaces are application events.
func ClassOf(typ string) Class {
	ns, _, _ := strings.Cut(typ, ".")
	switch ns {
	case "kernel":
		return ClassKernel
	case "dns":
		return ClassDNS
	case "rpc":
		return ClassRPC
	case "node":
		switch typ {
		case TypeHeartbeat:
			return ClassHeartbeat
		case TypePosture:
			return ClassPosture
		case TypeReboot:
			return ClassReboot
		}
	}
	return ClassApp
}

// Heartbeat is the data of node.heartbeat.
type Heartbeat struct {
	BootID        string  `json:"boot_id"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	IntervalSecs  float64 `json:"interval_seconds"`
	Version       string  `json:"collector_version,omitempty"`
	// Meminfo is /proc/meminfo at the heartbeat: the node's memory when it
	// was last heard, kept for node.reboot's "memory before the crash".
	Meminfo *Meminfo `json:"meminfo,omitempty"`
}

// Posture is the data of node.posture: what the node is and whether a crash
// on it would leave evidence.
type Posture struct {
	BootID        string      `json:"boot_id"`
	KernelRelease string      `json:"kernel_release"`
	KernelVersion string      `json:"kernel_version,omitempty"`
	OS            string      `json:"os"`
	OSID          string      `json:"os_id,omitempty"`
	OSVersionID   string      `json:"os_version_id,omitempty"`
	Arch          string      `json:"arch"`
	Kdump         *KdumpState `json:"kdump,omitempty"`
	// PreviousKernel is the previous boot's kernel release, on the first
	// posture of a boot that runs another one: an upgrade (or a rollback).
	PreviousKernel string   `json:"previous_kernel,omitempty"`
	Pods           []PodRef `json:"pods,omitempty"`
	// PodsOmitted counts pods left out of Pods to keep the event small.
	PodsOmitted int `json:"pods_omitted,omitempty"`
}

// KdumpState says whether a kernel crash would leave a vmcore, and why not.
type KdumpState struct {
	Ready          bool     `json:"ready"`
	Reasons        []string `json:"reasons,omitempty"`
	CrashKernel    string   `json:"crashkernel,omitempty"`
	CrashLoaded    bool     `json:"crash_loaded"`
	CrashDir       string   `json:"crash_dir,omitempty"`
	CrashDirFreeMB int64    `json:"crash_dir_free_mb,omitempty"`
}

// PodRef names a pod that ran on the node.
type PodRef struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	UID       string `json:"uid"`
	// IPs are the addresses of the pod's network namespace, as the node's
	// kernel knows them; HostNetwork says it shares the node's.
	IPs         []string `json:"ips,omitempty"`
	HostNetwork bool     `json:"host_network,omitempty"`
}

// TypeInfo describes one catalogued event type.
type TypeInfo struct {
	Type        string
	Description string
}

// Catalogue lists the types aftershock emits today. docs/events.md has a
// section with a JSON example for each; TestCatalogueDocumented keeps them in
// step. Add a type here when a source starts emitting it.
var Catalogue = []TypeInfo{
	{TypeHeartbeat, "the collector is alive; absence of these means the node is down or cut off"},
	{TypePosture, "what the node is (kernel, OS), whether a crash would leave evidence (kdump), and which pods run on it"},
	{TypeReboot, "the node booted again: previous and new boot id, last heartbeat, clean or not, cause from the previous boot's last words"},
	{TypeSpoolDropped, "the collector's disk spool was full while NATS was away and dropped its oldest events"},
	{TypeTest, "a test event for checking the path from a node to a notification"},
	{TypeDNSTimeout, "a resolver did not answer a probe in time; repeats rolled up per server, name, transport and interval"},
	{TypeDNSError, "a resolver answered a probe with SERVFAIL, REFUSED or NXDOMAIN, or refused the connection; rolled up like dns.timeout"},
	{TypeDNSRecovered, "a resolver that failed probes answers again"},
	{TypeDNSProbe, "periodic per-resolver probe summary: successes, failures, p50/p99 latency"},
	{TypeRPCTimeout, "an RPC timed out: a matching log line (rolled up per file, pattern and interval) or an app's report through ingest"},
	{TypeAlertmanagerAlert, "one alert of a Prometheus Alertmanager webhook, received by HTTP ingest"},
	{TypeKernelBug, "a kernel BUG or oops (BUG at FILE:LINE, NULL pointer dereference, GPF, invalid opcode): one event per report"},
	{TypeKernelPanic, "the kernel panicked (Kernel panic - not syncing)"},
	{TypeKernelLockup, "a soft or hard lockup, an RCU stall or a workqueue lockup"},
	{TypeKernelHungTask, "a task blocked in uninterruptible sleep past hung_task_timeout_secs"},
	{TypeKernelOOM, "an OOM kill; constraint memcg (a container at its limit) or global (the node ran out)"},
	{TypeKernelConntrack, "the conntrack table is full and packets are dropped; rolled up"},
	{TypeKernelNetdevLeak, "unregister_netdevice is waiting for a device to become free; rolled up per device"},
	{TypeKernelFSError, "an ext4/XFS/btrfs error, journal abort or read-only remount; rolled up per device"},
	{TypeKernelIOError, "a block device I/O error or NVMe timeout; rolled up per device"},
	{TypeKernelNetTxTimeout, "NETDEV WATCHDOG: a NIC transmit queue timed out"},
	{TypeKernelMCE, "a hardware error the kernel reported: x86 machine check, EDAC memory error, APEI/GHES record (arm64 and x86 servers); hardware, not software"},
}

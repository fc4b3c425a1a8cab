package event

import (
	"fmt"
	"time"
)

// The data payloads of the catalogued types. Rules read them as
// event.data.<json name>; docs/events.md shows an example of each. Field names
// are part of the rule-facing contract: add fields freely, rename never.

// Meminfo is a /proc/meminfo snapshot taken when a kernel event is seen. In
// the 2020-06 incident, "OOM" with ample free memory was the clue that the
// cause was a kernel bug.
type Meminfo struct {
	MemTotalKB     int64 `json:"mem_total_kb"`
	MemFreeKB      int64 `json:"mem_free_kb"`
	MemAvailableKB int64 `json:"mem_available_kb"`
	CachedKB       int64 `json:"cached_kb"`
	BuffersKB      int64 `json:"buffers_kb,omitempty"`
	SwapFreeKB     int64 `json:"swap_free_kb,omitempty"`
}

// KernelReport is the data of kernel.bug, kernel.panic, kernel.lockup,
// kernel.hung_task, kernel.conntrack_full, kernel.netdevice_leak,
// kernel.fs_error, kernel.io_error and kernel.net_tx_timeout. A multi-line
// report (cut here … end trace) is one event; repeats are rolled up into one
// event per interval with Count, First and Last.
type KernelReport struct {
	// Signature names the pattern of the signature pack that matched.
	Signature string `json:"signature"`
	// Summary is the headline line, e.g. "kernel BUG at include/linux/fs.h:2582!".
	Summary string `json:"summary"`
	// File and Line locate a BUG or WARNING in the kernel source, with the
	// build path prefix (/build/linux-…/) removed.
	File          string   `json:"file,omitempty"`
	Line          int      `json:"line,omitempty"`
	Comm          string   `json:"comm,omitempty"`
	PID           int      `json:"pid,omitempty"`
	KernelRelease string   `json:"kernel_release,omitempty"`
	Tainted       string   `json:"tainted,omitempty"`
	CallTrace     []string `json:"call_trace,omitempty"`
	// Device is the disk, filesystem or interface concerned (fs, io, net),
	// or the memory controller (EDAC).
	Device string `json:"device,omitempty"`
	// Driver is the network driver of a NETDEV WATCHDOG (virtio_net, ixgbe).
	Driver string `json:"driver,omitempty"`
	// Op is the block operation of an I/O error (READ, WRITE, FLUSH…).
	Op string `json:"op,omitempty"`
	// Reason says why, in the kernel's words: a panic's reason ("Fatal
	// exception in interrupt", "hung_task: blocked tasks"), an XFS
	// shutdown's cause, or a hardware error's severity (corrected,
	// uncorrected, fatal, …).
	Reason string `json:"reason,omitempty"`
	// Lines are the raw kernel lines (bounded).
	Lines   []string `json:"lines,omitempty"`
	BootID  string   `json:"boot_id,omitempty"`
	Meminfo *Meminfo `json:"meminfo,omitempty"`
	// Count, First and Last describe a rollup of repeated lines; Count is 1
	// for a single report.
	Count int       `json:"count"`
	First time.Time `json:"first,omitzero"`
	Last  time.Time `json:"last,omitzero"`
}

// OOM constraints as reported by the kernel, normalised.
const (
	OOMGlobal = "global" // CONSTRAINT_NONE, global_oom, or a 4.x kernel that prints no oom-kill line
	OOMMemcg  = "memcg"  // CONSTRAINT_MEMCG: a container hit its own limit
	OOMCpuset = "cpuset"
	OOMPolicy = "mempolicy"
)

// OOM is the data of kernel.oom: one OOM report from "invoked oom-killer" to
// "Killed process".
type OOM struct {
	// Constraint is global for a node incident, memcg for a container
	// inside its limit (normal Kubernetes life).
	Constraint  string `json:"constraint"`
	InvokerComm string `json:"invoker_comm,omitempty"`
	InvokerPID  int    `json:"invoker_pid,omitempty"`
	VictimComm  string `json:"victim_comm"`
	VictimPID   int    `json:"victim_pid"`
	// VictimRSSKB is anon-rss + file-rss + shmem-rss of the victim.
	VictimRSSKB int64 `json:"victim_rss_kb"`
	// Memcg is the cgroup path of the OOM (memcg constraint) or of the task.
	Memcg       string `json:"memcg,omitempty"`
	PodUID      string `json:"pod_uid,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
	// Namespace, Pod and Container name the pod UID and container id, joined
	// on the node with its pod list (the kubelet's log directories); empty
	// when the pod was already gone or the report is read offline.
	Namespace     string   `json:"namespace,omitempty"`
	Pod           string   `json:"pod,omitempty"`
	Container     string   `json:"container,omitempty"`
	KernelRelease string   `json:"kernel_release,omitempty"`
	Lines         []string `json:"lines,omitempty"`
	BootID        string   `json:"boot_id,omitempty"`
	Meminfo       *Meminfo `json:"meminfo,omitempty"`
}

// Reboot causes, from the previous boot's last words.
const (
	CauseKernelBug = "kernel_bug"
	CausePanic     = "panic"
	CauseOOM       = "oom"
	CauseLockup    = "lockup"
	CauseHardware  = "hardware" // an uncorrected machine check or fatal hardware error record
	CauseClean     = "clean"
	CauseUnknown   = "unknown" // no evidence: power loss or hard reset
)

// Reboot is the data of node.reboot, published by the collector at start
// when the boot id changed.
type Reboot struct {
	PreviousBootID string    `json:"previous_boot_id"`
	BootID         string    `json:"boot_id"`
	BootTime       time.Time `json:"boot_time"`
	// LastHeartbeat estimates when the node died.
	LastHeartbeat time.Time `json:"last_heartbeat,omitzero"`
	// Clean is true when the previous boot ended in an orderly shutdown.
	Clean bool `json:"clean"`
	// Cause classifies the previous boot's end.
	Cause string `json:"cause"`
	// CauseDetail is the evidence line, e.g. "kernel BUG at include/linux/fs.h:2582!".
	CauseDetail string `json:"cause_detail,omitempty"`
	// CauseType is the kernel event type behind Cause (kernel.bug, …).
	CauseType string `json:"cause_type,omitempty"`
	// CauseTime is when the kernel logged the cause, when its line is dated.
	CauseTime time.Time `json:"cause_time,omitzero"`
	// PreviousKernel is the kernel release of the previous boot, when known.
	PreviousKernel string `json:"previous_kernel,omitempty"`
	// Sources lists where last words were found: journal, kern.log, pstore, kdump.
	Sources []string `json:"sources,omitempty"`
	// LastWords is the tail of the previous boot's kernel log (bounded).
	LastWords []string `json:"last_words,omitempty"`
	// PreviousPods are the pods of the node's last posture in the previous
	// boot, with their IPs: what died with the node (bounded).
	PreviousPods []PodRef `json:"previous_pods,omitempty"`
	// Vmcore is the path of a kdump vmcore of the previous boot, if any.
	Vmcore string `json:"vmcore,omitempty"`
	// Meminfo is the memory before the crash: the kernel report's snapshot
	// when the live watcher took one (MeminfoSource "kernel_report"), else
	// the last one the collector saved with a heartbeat of the previous boot
	// ("heartbeat"). MeminfoAt is when it was taken, and MeminfoAgeSeconds
	// how long before the cause was logged (set when both times are known).
	Meminfo           *Meminfo  `json:"meminfo,omitempty"`
	MeminfoSource     string    `json:"meminfo_source,omitempty"`
	MeminfoAt         time.Time `json:"meminfo_at,omitzero"`
	MeminfoAgeSeconds float64   `json:"meminfo_age_seconds,omitempty"`
}

// Where a node.reboot's Meminfo comes from.
const (
	MeminfoFromReport    = "kernel_report"
	MeminfoFromHeartbeat = "heartbeat"
)

// DNSFailure is the data of dns.timeout and dns.error, rolled up per
// (server, name, transport) and interval.
type DNSFailure struct {
	Server    string `json:"server"`
	Name      string `json:"name"`
	Transport string `json:"transport"` // udp or tcp
	TimeoutMS int64  `json:"timeout_ms"`
	// Rcode is set for dns.error: SERVFAIL, REFUSED, NXDOMAIN (when not expected).
	Rcode          string    `json:"rcode,omitempty"`
	Error          string    `json:"error,omitempty"`
	Count          int       `json:"count"`
	First          time.Time `json:"first"`
	Last           time.Time `json:"last"`
	WorstLatencyMS float64   `json:"worst_latency_ms,omitempty"`
}

// DNSRecovered is the data of dns.recovered: a failing server answers again.
type DNSRecovered struct {
	Server    string    `json:"server"`
	Name      string    `json:"name"`
	Transport string    `json:"transport"`
	DownSince time.Time `json:"down_since"`
	Failures  int       `json:"failures"`
}

// DNSProbe is the data of dns.probe, a periodic summary per server.
type DNSProbe struct {
	IntervalSeconds float64          `json:"interval_seconds"`
	Servers         []DNSServerStats `json:"servers"`
}

// DNSServerStats summarises one server over a probe summary interval.
type DNSServerStats struct {
	Server    string  `json:"server"`
	Transport string  `json:"transport"`
	OK        int     `json:"ok"`
	Failed    int     `json:"failed"`
	P50MS     float64 `json:"p50_ms"`
	P99MS     float64 `json:"p99_ms"`
}

// RPCTimeout is the data of rpc.timeout, from a log line pattern (rolled up
// per file, pattern and interval) or reported by an app through ingest.
type RPCTimeout struct {
	Pattern   string    `json:"pattern,omitempty"`
	Service   string    `json:"service,omitempty"`
	Peer      string    `json:"peer,omitempty"`
	Method    string    `json:"method,omitempty"`
	Code      string    `json:"code,omitempty"`
	File      string    `json:"file,omitempty"`
	Namespace string    `json:"namespace,omitempty"`
	Pod       string    `json:"pod,omitempty"`
	Container string    `json:"container,omitempty"`
	Count     int       `json:"count"`
	First     time.Time `json:"first,omitzero"`
	Last      time.Time `json:"last,omitzero"`
	Sample    string    `json:"sample,omitempty"`
}

// AlertmanagerAlert is the data of alertmanager.alert: one alert of a
// Prometheus Alertmanager webhook (version 4).
type AlertmanagerAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"starts_at"`
	EndsAt       time.Time         `json:"ends_at,omitzero"`
	GeneratorURL string            `json:"generator_url,omitempty"`
	Fingerprint  string            `json:"fingerprint,omitempty"`
	Receiver     string            `json:"receiver,omitempty"`
	ExternalURL  string            `json:"external_url,omitempty"`
}

// SpoolDropped is the data of collector.spool_dropped: the spool was full
// while NATS was away and dropped its oldest events.
type SpoolDropped struct {
	Dropped int       `json:"dropped"`
	First   time.Time `json:"first"`
	Last    time.Time `json:"last"`
}

// KiB formats a KiB count (meminfo's and the OOM killer's unit) as people
// read it: 12.3 GiB, 512 MiB or 900 KiB.
func KiB(kb int64) string {
	switch {
	case kb >= 1<<20:
		return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	case kb >= 1<<10:
		return fmt.Sprintf("%d MiB", kb>>10)
	}
	return fmt.Sprintf("%d KiB", kb)
}

package kernel

import "github.com/aftershock/aftershock/internal/event"

// oomCases: OOM kills on cgroup v1 and v2, with the cgroupfs and systemd
// drivers, memory.oom.group, and the OOM panics.
var oomCases = []fixtureCase{
	{"k44-oom-global.dmesg", "mm/oom_kill.c dump_header, oom_kill_process \"Out of memory: Kill process %d (%s) score %u or sacrifice child\", \"Killed process %d (%s) total-vm:…\" (v4.4.178)", []want{
		{typ: event.TypeKernelOOM, oom: &event.OOM{Constraint: event.OOMGlobal, InvokerComm: "java", InvokerPID: 30311,
			VictimComm: "java", VictimPID: 30311, VictimRSSKB: 7204932, KernelRelease: "4.4.0-104-generic"}},
	}},
	{"k44-oom-memcg.dmesg", "mm/memcontrol.c mem_cgroup_print_oom_info \"Task in %s killed as a result of limit of %s\" (v4.4.178), cgroup v1, cgroupfs driver", []want{
		{typ: event.TypeKernelOOM, oom: &event.OOM{Constraint: event.OOMMemcg, InvokerComm: "java", InvokerPID: 17801,
			VictimComm: "java", VictimPID: 17790, VictimRSSKB: 1041380 + 6808,
			Memcg:       "/kubepods/burstable/pod4c9f3a7e-ae21-11ea-9c49-5254006f7a1b/2fa0c9d4ab53b6e1a48e1e3cd5b27cd0b96fe49e0d8d4dc1cd83d3d5e2a53f61",
			PodUID:      "4c9f3a7e-ae21-11ea-9c49-5254006f7a1b",
			ContainerID: "2fa0c9d4ab53b6e1a48e1e3cd5b27cd0b96fe49e0d8d4dc1cd83d3d5e2a53f61", KernelRelease: "4.4.0-104-generic"}},
	}},
	{"k515-oom-memcg-systemd.kmsg", "mm/oom_kill.c dump_oom_summary \"oom-kill:constraint=%s,nodemask=%*pbl\", mm/memcontrol.c mem_cgroup_print_oom_context \",oom_memcg=\" \",task_memcg=\" (v5.15.135), cgroup v2, systemd driver", []want{
		{typ: event.TypeKernelOOM, oom: &event.OOM{Constraint: event.OOMMemcg, InvokerComm: "coredns", InvokerPID: 18841,
			VictimComm: "coredns", VictimPID: 18841, VictimRSSKB: 172416 + 3632,
			Memcg:       "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod5d0b7e34_9c1f_4c2a_8a61_2f0e4b7d9c11.slice/cri-containerd-8f0e3c1d5a7b9e2f4c6d8a0b1e3f5c7d9a1b3e5f7c9d1a3b5e7f9c1d3a5b7e9f.scope",
			PodUID:      "5d0b7e34-9c1f-4c2a-8a61-2f0e4b7d9c11",
			ContainerID: "8f0e3c1d5a7b9e2f4c6d8a0b1e3f5c7d9a1b3e5f7c9d1a3b5e7f9c1d3a5b7e9f", KernelRelease: "5.15.0-91-generic"}},
	}},
	{"k61-oom-memcg-v2-cgroupfs.dmesg", "mm/oom_kill.c dump_oom_summary, mm/memcontrol.c mem_cgroup_print_oom_meminfo \"swap: usage\" (cgroup v2) (v6.1.20), kubelet's cgroupfs driver paths", []want{
		{typ: event.TypeKernelOOM, oom: &event.OOM{Constraint: event.OOMMemcg, InvokerComm: "envoy", InvokerPID: 7721,
			VictimComm: "envoy", VictimPID: 7721, VictimRSSKB: 522240 + 1536,
			Memcg:       "/kubepods/burstable/pod9b2d4f6a-8c0e-4a2b-9d4f-6a8c0e2b4d61/0a2c4e6b8d0f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c",
			PodUID:      "9b2d4f6a-8c0e-4a2b-9d4f-6a8c0e2b4d61",
			ContainerID: "0a2c4e6b8d0f1a3c5e7b9d1f3a5c7e9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c", KernelRelease: "6.1.0-18-amd64"}},
	}},
	{"k61-oom-group.kmsg", "mm/oom_kill.c oom_kill_process, mm/memcontrol.c mem_cgroup_print_oom_group \"Tasks in %s are going to be killed due to memory.oom.group set\" (v6.1.20): the group's other kills are not new OOMs", []want{
		{typ: event.TypeKernelOOM, oom: &event.OOM{Constraint: event.OOMMemcg, InvokerComm: "java", InvokerPID: 40212,
			VictimComm: "java", VictimPID: 40212, VictimRSSKB: 2089972 + 1232,
			Memcg:       "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod7c0e4a21_5b3d_4f6e_9a18_2d4c6e8f0b13.slice/cri-containerd-3e5a7c9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c.scope",
			PodUID:      "7c0e4a21-5b3d-4f6e-9a18-2d4c6e8f0b13",
			ContainerID: "3e5a7c9b1d3f5a7c9e1b3d5f7a9c1e3b5d7f9a1c3e5b7d9f1a3c5e7b9d1f3a5c", KernelRelease: "6.1.0-18-amd64"}},
	}},
	{"k54-oom-global.dmesg", "mm/oom_kill.c dump_oom_summary \"oom-kill:constraint=CONSTRAINT_NONE\", __oom_kill_process \"%s: Killed process %d (%s)\" (v5.4.59)", []want{
		{typ: event.TypeKernelOOM, oom: &event.OOM{Constraint: event.OOMGlobal, InvokerComm: "stress-ng", InvokerPID: 90211,
			VictimComm: "stress-ng", VictimPID: 90211, VictimRSSKB: 15773220,
			Memcg:       "/kubepods/besteffort/pod8a7c6e11-3d2b-4f5a-9e8d-7c6b5a4f3e2d/d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2",
			PodUID:      "8a7c6e11-3d2b-4f5a-9e8d-7c6b5a4f3e2d",
			ContainerID: "d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2", KernelRelease: "5.4.0-150-generic"}},
	}},
	{"k44-panic-oom.dmesg", "mm/oom_kill.c out_of_memory panic(\"Out of memory and no killable processes...\\n\") (v4.4.178; a pr_warn since v4.19)", []want{
		{typ: event.TypeKernelOOM, oom: &event.OOM{Constraint: event.OOMGlobal, InvokerComm: "kubelet", InvokerPID: 1348, KernelRelease: "4.4.0-104-generic"}},
		{typ: event.TypeKernelPanic, reason: "Out of memory and no killable processes...", comm: "kubelet", pid: 1348},
	}},
	{"k54-panic-on-oom.dmesg", "mm/oom_kill.c check_panic_on_oom panic(\"Out of memory: %s panic_on_oom is enabled\\n\") (v5.4.59)", []want{
		{typ: event.TypeKernelOOM, oom: &event.OOM{Constraint: event.OOMGlobal, InvokerComm: "java", InvokerPID: 91211, KernelRelease: "5.4.0-150-generic"}},
		{typ: event.TypeKernelPanic, reason: "Out of memory: system-wide panic_on_oom is enabled"},
	}},
}

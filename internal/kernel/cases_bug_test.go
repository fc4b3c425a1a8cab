package kernel

import "github.com/aftershock/aftershock/internal/event"

// bugCases: BUG/oops in every spelling, on x86_64 and arm64, and the
// panics that follow them, with their reasons.
var bugCases = []fixtureCase{
	{"k44-bug-fs-h.dmesg", "lib/bug.c report_bug \"kernel BUG at %s:%u!\", arch/x86/kernel/dumpstack.c __die \"%s: %04lx [#%d]\", kernel/panic.c panic (v4.4.178); the 2020-06 incident's node, Ubuntu 4.4.0-104", []want{
		{typ: event.TypeKernelBug, sig: "bug-at", summary: "kernel BUG at include/linux/fs.h:2582!", file: "include/linux/fs.h", line: 2582,
			comm: "auplink", pid: 28714, release: "4.4.0-104-generic", firstFrame: "____fput+0xe/0x10"},
		{typ: event.TypeKernelPanic, sig: "panic", summary: "Fatal exception", reason: "Fatal exception"},
	}},
	{"k44-incident.journal", "the same report as journald kept it (v4.4.178 printk, Ubuntu 16.04 journal): the node died two lines in", []want{
		{typ: event.TypeKernelBug, sig: "bug-at", summary: "kernel BUG at include/linux/fs.h:2582!", file: "include/linux/fs.h", line: 2582},
	}},
	{"k44-null-deref.dmesg", "arch/x86/mm/fault.c show_fault_oops \"BUG: unable to handle kernel \" \"NULL pointer dereference\" \" at %p\" (v4.4.178)", []want{
		{typ: event.TypeKernelBug, sig: "null-deref-4x", comm: "kube-proxy", pid: 19871, tainted: "G OE", firstFrame: "ip_vs_genl_set_cmd+0x131/0x4b0 [ip_vs]"},
	}},
	{"k44-paging-request.dmesg", "arch/x86/mm/fault.c show_fault_oops \"paging request\" (v4.4.178); arch/x86/kernel/dumpstack.c oops_end panic(\"Fatal exception in interrupt\") (v4.4.178)", []want{
		{typ: event.TypeKernelBug, sig: "paging-request", summary: "BUG: unable to handle kernel paging request at ffff8801f3c0a018", comm: "swapper/6",
			release: "4.4.0-104-generic", firstFrame: "ip_local_deliver_finish+0x94/0x1e0"},
		{typ: event.TypeKernelPanic, sig: "panic", reason: "Fatal exception in interrupt"},
	}},
	{"k515-page-fault.dmesg", "arch/x86/mm/fault.c show_fault_oops \"BUG: unable to handle page fault for address: %px\", \"#PF: …\" (v5.15.135)", []want{
		{typ: event.TypeKernelBug, sig: "paging-request", summary: "BUG: unable to handle page fault for address: ffffb3c0c2a7f000", comm: "node_exporter", pid: 30117,
			release: "5.15.0-91-generic", tainted: "G OE", firstFrame: "dev_get_stats+0x5d/0x110"},
	}},
	{"k54-null-deref-panic.kmsg", "arch/x86/mm/fault.c show_fault_oops \"BUG: kernel NULL pointer dereference, address: %px\" (v5.4.59)", []want{
		{typ: event.TypeKernelBug, sig: "null-deref", comm: "containerd-shim", pid: 2211, release: "5.4.0-42-generic", tainted: "G W", firstFrame: "inode_permission+0x69/0x150"},
		{typ: event.TypeKernelPanic, summary: "Fatal exception", reason: "Fatal exception"},
	}},
	{"k44-gpf.dmesg", "arch/x86/kernel/traps.c do_general_protection die(\"general protection fault\") (v4.4.178)", []want{
		{typ: event.TypeKernelBug, sig: "general-protection-fault", comm: "dockerd", pid: 7712, firstFrame: "d_alloc+0x2b/0xa0"},
	}},
	{"k515-gpf.dmesg", "arch/x86/kernel/traps.c exc_general_protection GPFSTR \", probably for non-canonical address 0x%lx\" (v5.15.135)", []want{
		{typ: event.TypeKernelBug, sig: "general-protection-fault", comm: "kubelet", release: "5.15.0-91-generic", firstFrame: "mem_cgroup_css_free+0x5a/0x110"},
	}},
	{"k613-gpf.dmesg", "arch/x86/kernel/dumpstack.c __die_header \"Oops: %s: %04lx [#%d]\" with the GPF hint of arch/x86/kernel/traps.c (v6.13.7)", []want{
		{typ: event.TypeKernelBug, sig: "general-protection-fault", summary: "Oops: general protection fault, probably for non-canonical address", comm: "containerd", pid: 1841,
			release: "6.13.7-200.fc41.x86_64", firstFrame: "mem_cgroup_css_free+0x5a/0x110"},
		{typ: event.TypeKernelPanic, reason: "Fatal exception"},
	}},
	{"k6-bug-at.dmesg", "lib/bug.c report_bug, arch/x86/kernel/dumpstack.c \"Oops: %s\" since v6.10 (v6.13.7); lib/dump_stack.c \"CPU: %d UID: %u PID: %d\" (v6.13.7)", []want{
		{typ: event.TypeKernelBug, sig: "bug-at", file: "mm/slub.c", line: 379, comm: "kworker/4:0", pid: 77102, release: "6.12.9-200.fc41.x86_64", tainted: "G B", firstFrame: "kfree+0x2a1/0x2f0"},
	}},
	{"k44-list-del.dmesg", "lib/list_debug.c __list_del_entry WARN(next == LIST_POISON1, \"list_del corruption, %p->next is LIST_POISON1 (%p)\") at line 53; kernel/panic.c warn_slowpath_common (v4.4.178)", []want{
		{typ: event.TypeKernelBug, sig: "list-corruption", summary: "list_del corruption, ffff8800b6bc1a40->next is LIST_POISON1", file: "lib/list_debug.c", line: 53,
			comm: "dockerd", pid: 3390, tainted: "G W", firstFrame: "dump_stack+0x63/0x90"},
	}},
	{"k515-list-del-warn.dmesg", "lib/list_debug.c __list_del_entry_valid CHECK_DATA_CORRUPTION WARN (line 61), kernel/panic.c __warn_printk prints the message before the WARNING line (v5.15.135)", []want{
		{typ: event.TypeKernelBug, sig: "list-corruption", summary: "list_del corruption. prev->next should be", file: "lib/list_debug.c", line: 61,
			comm: "kubelet", pid: 2211, release: "5.15.0-1051-aws", firstFrame: "inode_sb_list_del+0x34/0x80"},
	}},
	{"k613-list-add-bug.dmesg", "lib/list_debug.c __list_add_valid_or_report, include/linux/bug.h CHECK_DATA_CORRUPTION pr_err + BUG() with CONFIG_BUG_ON_DATA_CORRUPTION (v6.13.7)", []want{
		{typ: event.TypeKernelBug, sig: "list-corruption", summary: "list_add corruption. next->prev should be prev", file: "lib/list_debug.c", line: 31,
			comm: "kworker/9:2", pid: 48812, release: "6.13.7-200.fc41.x86_64", firstFrame: "insert_work+0x3f/0xa0"},
	}},
	{"k44-bad-page.dmesg", "mm/page_alloc.c bad_page \"BUG: Bad page state in process %s  pfn:%05lx\", mm/debug.c dump_page_badflags (v4.4.178)", []want{
		{typ: event.TypeKernelBug, sig: "bad-page-state", comm: "java", pid: 31877, release: "4.4.0-104-generic", firstFrame: "dump_stack+0x63/0x90"},
	}},
	{"k613-bad-page.dmesg", "mm/page_alloc.c bad_page, mm/debug.c __dump_page \"page: refcount:%d mapcount:%d …\" (v6.13.7)", []want{
		{typ: event.TypeKernelBug, sig: "bad-page-state", comm: "kswapd0", pid: 97, release: "6.13.7-200.fc41.x86_64", tainted: "G B", firstFrame: "dump_stack_lvl+0x5d/0x80"},
	}},
	{"k54-sched-atomic.dmesg", "kernel/sched/core.c __schedule_bug \"BUG: scheduling while atomic: %s/%d/0x%08x\" (v5.4.59; same in v4.4.178, v6.13.7)", []want{
		{typ: event.TypeKernelBug, sig: "scheduling-while-atomic", comm: "iptables-restor", pid: 22011, release: "5.4.0-42-generic", firstFrame: "dump_stack+0x6d/0x9a"},
	}},
	{"k44-arm64-null-deref.dmesg", "arch/arm64/mm/fault.c __do_kernel_fault \"Unable to handle kernel %s at virtual address %08lx\", arch/arm64/kernel/traps.c __die \"Internal error: %s: %x [#%d]\", die panic(\"Fatal exception\") (v4.4.178)", []want{
		{typ: event.TypeKernelBug, sig: "arm64-fault", summary: "Unable to handle kernel NULL pointer dereference at virtual address 00000008", comm: "kube-proxy", pid: 11402,
			release: "4.4.0-104-generic", firstFrame: "ip_vs_genl_set_cmd+0x1a4/0x4c0 [ip_vs]"},
		{typ: event.TypeKernelPanic, reason: "Fatal exception"},
	}},
	{"k515-arm64-paging.dmesg", "arch/arm64/mm/fault.c die_kernel_fault, mem_abort_decode; arch/arm64/kernel/traps.c die panic(\"%s: Fatal exception\", str) (v5.15.135)", []want{
		{typ: event.TypeKernelBug, sig: "arm64-fault", summary: "Unable to handle kernel paging request at virtual address ffff80001e7a3018", comm: "etcd", pid: 2231,
			release: "5.15.0-1051-aws", firstFrame: "__fput+0x7c/0x260"},
		{typ: event.TypeKernelPanic, reason: "Oops: Fatal exception"},
	}},
	{"k613-arm64-bug.dmesg", "lib/bug.c report_bug, arch/arm64/kernel/traps.c die(\"Oops - BUG\") \"Internal error: %s: %016lx [#%d]\", arch/arm64/kernel/stacktrace.c \" (P)\" frames (v6.13.7)", []want{
		{typ: event.TypeKernelBug, sig: "bug-at", file: "mm/huge_memory.c", line: 2940, comm: "khugepaged", pid: 6112,
			release: "6.13.7-200.fc41.aarch64", firstFrame: "split_huge_page_to_list_to_order+0x8d0/0x9a0"},
		{typ: event.TypeKernelPanic, reason: "Oops - BUG: Fatal exception"},
	}},
	{"k515-panic.dmesg", "kernel/hung_task.c check_hung_task panic(\"hung_task: blocked tasks\") (v5.15.135)", []want{
		{typ: event.TypeKernelPanic, summary: "hung_task: blocked tasks", reason: "hung_task: blocked tasks", comm: "khungtaskd", firstFrame: "dump_stack_lvl+0x4a/0x63"},
	}},
}

package kernel

import "github.com/aftershock/aftershock/internal/event"

// lockupCases: soft and hard lockups, RCU stalls of every flavour, hung
// tasks, and the panics they end in.
var lockupCases = []fixtureCase{
	{"k44-soft-lockup.dmesg", "kernel/watchdog.c watchdog_timer_fn \"BUG: soft lockup - CPU#%d stuck for %us! [%s:%d]\", pr_fmt \"NMI watchdog: \" (v4.4.178)", []want{
		{typ: event.TypeKernelLockup, sig: "soft-lockup", comm: "java", pid: 3011, firstFrame: "shrink_dentry_list+0x13b/0x300"},
		{typ: event.TypeKernelLockup, sig: "soft-lockup", comm: "java", pid: 3011, tainted: "G L"},
	}},
	{"k515-soft-lockup.journal", "kernel/watchdog.c watchdog_timer_fn, pr_fmt \"watchdog: \" (v5.15.135), as journald shows it", []want{
		{typ: event.TypeKernelLockup, sig: "soft-lockup", comm: "kworker/7:1", pid: 41213, firstFrame: "_raw_spin_lock+0x22/0x30"},
	}},
	{"k613-soft-lockup.dmesg", "kernel/watchdog.c watchdog_timer_fn and print_cpustat \"CPU#%d Utilization every %llus during lockup:\" (v6.13.7)", []want{
		{typ: event.TypeKernelLockup, sig: "soft-lockup", comm: "kworker/3:2", pid: 4123, release: "6.13.7-200.fc41.x86_64", tainted: "G L", firstFrame: "__wake_up_common_lock+0x85/0xc0"},
	}},
	{"k61-softlockup-panic.dmesg", "kernel/watchdog.c watchdog_timer_fn panic(\"softlockup: hung tasks\") with softlockup_panic=1 (v6.1.20)", []want{
		{typ: event.TypeKernelLockup, sig: "soft-lockup", comm: "java", pid: 4412, release: "6.1.0-18-amd64", firstFrame: "_raw_spin_lock+0x25/0x30"},
		{typ: event.TypeKernelPanic, reason: "softlockup: hung tasks", tainted: "G L"},
	}},
	{"k515-arm64-soft-lockup.dmesg", "kernel/watchdog.c watchdog_timer_fn (v5.15.135); arch/arm64/kernel/stacktrace.c \"Call trace:\"", []want{
		{typ: event.TypeKernelLockup, sig: "soft-lockup", comm: "etcd", pid: 2231, release: "5.15.0-1051-aws", firstFrame: "queued_spin_lock_slowpath+0x1dc/0x3c0"},
	}},
	{"k44-hard-lockup.dmesg", "kernel/watchdog.c watchdog_overflow_callback WARN(1, \"Watchdog detected hard LOCKUP on cpu %d\") as in v4.4.0 (Ubuntu 4.4.0-104; v4.4.178 has pr_emerg)", []want{
		{typ: event.TypeKernelLockup, sig: "hard-lockup", file: "kernel/watchdog.c", line: 352, comm: "swapper/5", firstFrame: "dump_stack+0x63/0x90"},
		{typ: event.TypeKernelPanic, summary: "Hard LOCKUP", reason: "Hard LOCKUP"},
	}},
	{"k515-hard-lockup.dmesg", "kernel/watchdog_hld.c watchdog_overflow_callback pr_emerg(\"Watchdog detected hard LOCKUP on cpu %d\"), nmi_panic(\"Hard LOCKUP\"), pr_fmt \"NMI watchdog: \" (v5.15.135)", []want{
		{typ: event.TypeKernelLockup, sig: "hard-lockup", comm: "swapper/7", release: "5.15.0-91-generic", firstFrame: "_raw_spin_lock_irqsave+0x3d/0x50"},
		{typ: event.TypeKernelPanic, reason: "Hard LOCKUP"},
	}},
	{"k613-arm64-hard-lockup.dmesg", "kernel/watchdog.c watchdog_hardlockup_check, buddy detector, pr_fmt \"watchdog: \" (v6.13.7)", []want{
		{typ: event.TypeKernelLockup, sig: "hard-lockup", comm: "swapper/4", release: "6.13.7-200.fc41.aarch64", firstFrame: "watchdog_hardlockup_check+0x160/0x1d8"},
		{typ: event.TypeKernelPanic, reason: "Hard LOCKUP"},
	}},
	{"k44-rcu-stall.dmesg", "kernel/rcu/tree.c print_cpu_stall \"INFO: %s self-detected stall on CPU\" (v4.4.178)", []want{
		{typ: event.TypeKernelLockup, sig: "rcu-self-stall", firstFrame: "sched_show_task+0xaf/0x110"},
	}},
	{"k44-rcu-flavours.dmesg", "kernel/rcu/tree.c print_other_cpu_stall, synchronize_sched_expedited_wait \"INFO: %s detected expedited stalls on CPUs/tasks: {\"; kernel/rcu/update.c check_holdout_task \"INFO: rcu_tasks detected stalls on tasks:\" (v4.4.178)", []want{
		{typ: event.TypeKernelLockup, sig: "rcu-stall", summary: "INFO: rcu_sched detected stalls on CPUs/tasks:"},
		{typ: event.TypeKernelLockup, sig: "rcu-expedited-stall"},
		{typ: event.TypeKernelLockup, sig: "rcu-tasks-stall"},
	}},
	{"k515-rcu-flavours.dmesg", "kernel/rcu/tree_stall.h print_cpu_stall, print_other_cpu_stall, rcu_panic panic(\"RCU Stall\"); kernel/rcu/tree_exp.h; kernel/rcu/tasks.h; pr_fmt \"rcu: \" (v5.15.135)", []want{
		{typ: event.TypeKernelLockup, sig: "rcu-self-stall", comm: "containerd-shim", pid: 88121, firstFrame: "dump_stack_lvl+0x4a/0x63"},
		{typ: event.TypeKernelLockup, sig: "rcu-expedited-stall"},
		{typ: event.TypeKernelLockup, sig: "rcu-tasks-stall"},
		{typ: event.TypeKernelLockup, sig: "rcu-stall", summary: "rcu: INFO: rcu_preempt detected stalls on CPUs/tasks:"},
		{typ: event.TypeKernelPanic, reason: "RCU Stall"},
	}},
	{"k6-rcu-stall.dmesg", "kernel/rcu/tree_stall.h print_other_cpu_stall (v6.1.20)", []want{
		{typ: event.TypeKernelLockup, sig: "rcu-stall", release: "6.1.0-18-amd64"},
	}},
	{"k44-hung-task.kern.log", "kernel/hung_task.c check_hung_task \"INFO: task %s:%d blocked for more than %ld seconds.\" (v4.4.178), syslog's kern.log", []want{
		{typ: event.TypeKernelHungTask, comm: "dockerd", pid: 1103, release: "4.4.0-104-generic", firstFrame: "schedule+0x35/0x80"},
		{typ: event.TypeKernelHungTask, comm: "auplink", pid: 28714},
	}},
	{"k6-hung-task.dmesg", "kernel/hung_task.c check_hung_task, kernel/sched/core.c sched_show_task \"task:%-15.15s state:%c\" (v6.1.20)", []want{
		{typ: event.TypeKernelHungTask, comm: "jbd2/nvme1n1p1-", pid: 512, release: "6.8.0-1008-aws", firstFrame: "__schedule+0x27c/0x6b0"},
	}},
	{"k613-hung-task.dmesg", "kernel/hung_task.c check_hung_task and \"Future hung task reports are suppressed\" (v6.13.7)", []want{
		{typ: event.TypeKernelHungTask, sig: "hung-task", comm: "containerd", pid: 1841, release: "6.13.7-200.fc41.x86_64", firstFrame: "__schedule+0x40b/0xb60"},
	}},
}

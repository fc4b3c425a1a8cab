package kernel

import "github.com/aftershock/aftershock/internal/event"

// storageNetCases: conntrack, netdevice leaks, file system and block
// errors, NVMe, NETDEV WATCHDOG.
var storageNetCases = []fixtureCase{
	{"k44-conntrack.kern.log", "net/netfilter/nf_conntrack_core.c __nf_conntrack_alloc net_warn_ratelimited(\"nf_conntrack: table full, dropping packet\\n\") under pr_fmt \"nf_conntrack: \" (v4.4.178)", []want{
		// First line at once; the next 7 within the minute rolled up; the
		// line after the minute opens a new group, its repeat is flushed.
		{typ: event.TypeKernelConntrack, sig: "conntrack-full", count: 1},
		{typ: event.TypeKernelConntrack, count: 7},
		{typ: event.TypeKernelConntrack, count: 1},
		{typ: event.TypeKernelConntrack, count: 1},
	}},
	{"k6-conntrack.dmesg", "net/netfilter/nf_conntrack_core.c __nf_conntrack_alloc (v6.1.20)", []want{
		{typ: event.TypeKernelConntrack, summary: "nf_conntrack: table full, dropping packet", count: 1},
		{typ: event.TypeKernelConntrack, count: 3},
		{typ: event.TypeKernelConntrack, count: 1},
	}},
	{"k44-netdevice.dmesg", "net/core/dev.c netdev_wait_allrefs \"unregister_netdevice: waiting for %s to become free. Usage count = %d\" (v4.4.178)", []want{
		{typ: event.TypeKernelNetdevLeak, device: "lo", count: 1},
		{typ: event.TypeKernelNetdevLeak, device: "lo", count: 5},
		{typ: event.TypeKernelNetdevLeak, device: "lo", count: 1},
		{typ: event.TypeKernelNetdevLeak, device: "veth0b1d6e3", count: 1},
	}},
	{"k6-netdevice.journal", "net/core/dev.c netdev_wait_allrefs_any (v6.1.20), as journald shows it", []want{
		{typ: event.TypeKernelNetdevLeak, sig: "netdevice-leak", device: "eth0", count: 1},
		{typ: event.TypeKernelNetdevLeak, device: "eth0", count: 2},
	}},
	{"k44-ext4.dmesg", "fs/ext4/super.c __ext4_error_inode, ext4_handle_error \"Remounting filesystem read-only\"; fs/jbd2/journal.c \"Aborting journal on device %s.\" (v4.4.178)", []want{
		{typ: event.TypeKernelFSError, sig: "ext-error", device: "vdb1", count: 1},
		{typ: event.TypeKernelFSError, sig: "jbd2-abort", device: "vdb1-8"},
		{typ: event.TypeKernelFSError, sig: "ext-remount-ro", device: "vdb1"},
		{typ: event.TypeKernelFSError, sig: "ext-error", device: "vdb1", count: 2},
	}},
	{"k613-ext4.dmesg", "fs/ext4/super.c __ext4_error_inode \"EXT4-fs error (device %s): %s:%d: inode #%lu: comm %s: %pV\", __ext4_std_error \"… in %s:%d: %s\", ext4_handle_error (v6.13.7); fs/jbd2/journal.c jbd2_journal_abort", []want{
		{typ: event.TypeKernelFSError, sig: "ext-error", device: "nvme1n1p1", count: 1},
		{typ: event.TypeKernelFSError, sig: "jbd2-abort", device: "nvme1n1p1-8"},
		{typ: event.TypeKernelFSError, sig: "ext-error", device: "nvme1n1p1", summary: "Journal has aborted", count: 1},
		{typ: event.TypeKernelFSError, sig: "ext-remount-ro", device: "nvme1n1p1"},
	}},
	{"k6-xfs.dmesg", "fs/xfs/xfs_log.c xlog_force_shutdown \"Filesystem has been shut down due to log error (0x%x).\", xlog_ioend_work \"log I/O error %d\" (v6.1.20)", []want{
		{typ: event.TypeKernelFSError, sig: "xfs-error", device: "dm-3", summary: "metadata I/O error", count: 1},
		{typ: event.TypeKernelFSError, sig: "xfs-error", device: "dm-3", summary: "log I/O error", count: 2},
		{typ: event.TypeKernelFSError, sig: "xfs-shutdown", device: "dm-3", summary: "Filesystem has been shut down", count: 1},
	}},
	{"k44-xfs-shutdown.dmesg", "fs/xfs/xfs_fsops.c xfs_do_force_shutdown \"%s(0x%x) called from line %d of file %s.  Return address = 0x%p\", \"Log I/O Error Detected.  Shutting down filesystem\" (v4.4.178)", []want{
		{typ: event.TypeKernelFSError, sig: "xfs-error", device: "dm-2", count: 1},
		{typ: event.TypeKernelFSError, sig: "xfs-error", device: "dm-2", summary: "xfs_do_force_shutdown(0x2)", count: 1},
		{typ: event.TypeKernelFSError, sig: "xfs-shutdown", device: "dm-2", reason: "Log I/O Error", count: 1},
	}},
	{"k613-xfs-shutdown.dmesg", "fs/xfs/xfs_fsops.c xfs_do_force_shutdown \"%s (0x%x) detected at %pS (%s:%d).  Shutting down filesystem.\" (v6.13.7)", []want{
		{typ: event.TypeKernelFSError, sig: "xfs-shutdown", device: "nvme1n1p1", reason: "Corruption of in-memory data"},
	}},
	{"k44-io-error.dmesg", "block/blk-core.c blk_update_request \"%s: %s error, dev %s, sector %llu\"; fs/buffer.c buffer_io_error (v4.4.178)", []want{
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "sdb", summary: "critical medium error", reason: "critical medium", count: 1},
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "sdb", count: 2},
		{typ: event.TypeKernelIOError, sig: "buffer-io-error", device: "sdb1"},
	}},
	{"k54-blk-io-op.dmesg", "block/blk-core.c print_req_error \"%s: %s error, dev %s, sector %llu op 0x%x:(%s) flags 0x%x phys_seg %u prio class %u\" (v5.4.59)", []want{
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "sdc", reason: "critical medium", op: "READ", count: 1},
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "sdc", reason: "I/O", op: "READ", count: 1},
	}},
	{"k44-nvme.dmesg", "drivers/nvme/host/pci.c nvme_abort_req \"Aborting I/O %d QID %d\", \"I/O %d QID %d timeout, reset controller\", nvme_watchdog_timer \"Failed status: %x, reset controller\", nvme_wait_ready \"Device not ready; aborting %s\" on the PCI device (v4.4.178)", []want{
		{typ: event.TypeKernelIOError, sig: "nvme-timeout", device: "0000:00:04.0", summary: "Aborting I/O 412 QID 3", count: 1},
		{typ: event.TypeKernelIOError, sig: "nvme-timeout", device: "0000:00:04.0", reason: "reset controller", count: 1},
		{typ: event.TypeKernelIOError, sig: "nvme-reset", device: "0000:00:04.0", reason: "Failed status: 3, reset controller", count: 1},
		{typ: event.TypeKernelIOError, sig: "nvme-reset", device: "0000:00:04.0", reason: "Device not ready; aborting reset", count: 1},
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "nvme0n1", reason: "I/O"},
		{typ: event.TypeKernelIOError, sig: "buffer-io-error", device: "nvme0n1p1"},
	}},
	{"k6-io-error.dmesg", "drivers/nvme/host/pci.c nvme_timeout \"I/O %d (%s) QID %d timeout, aborting\", \"I/O %d QID %d timeout, reset controller\"; block/blk-mq.c blk_print_req_error \"%s error, dev %s, sector %llu op 0x%x:(%s)\" (v6.1.20)", []want{
		{typ: event.TypeKernelIOError, sig: "nvme-timeout", device: "nvme1", reason: "aborting", count: 1},
		{typ: event.TypeKernelIOError, sig: "nvme-timeout", device: "nvme1", reason: "reset controller", count: 1},
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "nvme1n1", op: "WRITE", count: 1},
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "nvme1n1", count: 1},
		{typ: event.TypeKernelIOError, sig: "buffer-io-error", device: "nvme1n1p1"},
	}},
	{"k613-nvme.dmesg", "drivers/nvme/host/pci.c nvme_timeout \"I/O tag %d (%04x) opcode %#x (%s) QID %d timeout, aborting req_op:%s(%u) size:%u\", nvme_should_reset \"controller is down; will reset\", \"Disabling device after reset failure: %d\"; block/blk-mq.c blk_print_req_error (v6.13.7)", []want{
		{typ: event.TypeKernelIOError, sig: "nvme-timeout", device: "nvme0", reason: "aborting", op: "WRITE", count: 1},
		{typ: event.TypeKernelIOError, sig: "nvme-timeout", device: "nvme0", reason: "reset controller", count: 1},
		{typ: event.TypeKernelIOError, sig: "nvme-reset", device: "nvme0", reason: "controller is down; will reset", count: 1},
		{typ: event.TypeKernelIOError, sig: "nvme-reset", device: "nvme0", reason: "Disabling device after reset failure", count: 1},
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "nvme0n1", reason: "I/O", op: "WRITE", count: 1},
		{typ: event.TypeKernelIOError, sig: "block-io-error", device: "nvme0n1", op: "READ", count: 1},
	}},
	{"k44-netdev-watchdog.dmesg", "net/sched/sch_generic.c dev_watchdog WARN_ONCE(1, \"NETDEV WATCHDOG: %s (%s): transmit queue %u timed out\\n\") (v4.4.178)", []want{
		{typ: event.TypeKernelNetTxTimeout, sig: "netdev-watchdog", device: "eth0", driver: "virtio_net", file: "net/sched/sch_generic.c", line: 306, firstFrame: "dump_stack+0x63/0x90"},
	}},
	{"k515-netdev-watchdog.dmesg", "net/sched/sch_generic.c dev_watchdog WARN_ONCE; kernel/panic.c __warn_printk prints the message before the WARNING line (v5.15.135)", []want{
		{typ: event.TypeKernelNetTxTimeout, sig: "netdev-watchdog", device: "ens5", driver: "ena", file: "net/sched/sch_generic.c", line: 477,
			release: "5.15.0-1051-aws", firstFrame: "call_timer_fn+0x2c/0x100"},
	}},
	{"k6-netdev-watchdog.dmesg", "net/sched/sch_generic.c dev_watchdog netdev_crit(\"NETDEV WATCHDOG: CPU: %d: transmit queue %u timed out %u ms\\n\") (v6.13.7)", []want{
		{typ: event.TypeKernelNetTxTimeout, sig: "netdev-watchdog-6x", device: "eth1", driver: "ixgbe"},
	}},
}

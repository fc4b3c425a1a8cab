package kernel

// negativeCases: near misses that must stay quiet.
var negativeCases = []fixtureCase{
	{"negative-boot-5.15.dmesg", "a 5.15 boot (v5.15.135 printk): RCU, NMI watchdog, EXT4 and XFS mounts and re-mounts, user-space traps: and segfault lines", nil},
	{"negative-4.4.journal", "a 4.4 node's journal (v4.4.178): apps and logger writing kernel words, IPVS and oom_reaper chatter", nil},
	{"negative-userspace-oom.dmesg", "systemd's \"A process of this unit has been killed by the OOM killer.\" (user space, systemd 243+), systemd-oomd, kubelet; no kernel printk (v6.1.20 node)", nil},
	{"negative-userspace-oom.journal", "the same in the journal, and an app logging \"BUG: soft lockup\" (v6.1.20 node)", nil},
	{"negative-user-kmsg.kmsg", "user space writing to /dev/kmsg (facility user or daemon, kernel/printk/printk.c devkmsg_write; v4.4.178, v6.13.7): soft lockup, panic and OOM words that are not the kernel's", nil},
	{"negative-user-kmsg.dmesg", "the same through dmesg -r, whose <N> prefix keeps the facility (v6.13.7)", nil},
	{"negative-warnings.dmesg", "WARNING reports (kernel/panic.c __warn, v4.4.178 and v6.13.7) publish nothing unless a rule asks; fs/ext4/super.c \"re-mounted. Opts: %s\" (v4.4.178) and \"re-mounted %pU %s. Quota mode: %s.\" (v6.13.7); NVMe, mce thermal, EDAC and GHES boot lines", nil},
}

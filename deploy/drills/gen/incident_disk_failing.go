package main

import (
	"fmt"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// diskFailing: a node that does not crash, but whose local NVMe disk
// dies under a database. Cluster prod-nj, six nodes on 6.1; 10.9.0.12
// runs mysql-0 with its data on XFS on nvme1n1p1. At 02:14 the NVMe
// controller stops answering: command timeouts, a controller reset, I/O
// errors on reads and writes; XFS loses its log and shuts the filesystem
// down; mysqld then hangs in the kernel on it. The node stays up and keeps
// its heartbeats. Before node-kernel.yaml, nothing was said: none of it is
// a crash.
func diskFailing() *recording {
	r := newRecording("disk-failing", "prod-nj", "ddsk", 9012)
	nj := func(hour, minute, sec int) time.Time {
		return time.Date(2022, 8, 17, hour, minute, sec, 0, cst)
	}
	const (
		kernel = "6.1.0-18-amd64"
		sick   = "10.9.0.12"
	)
	nodes := hosts("10.9.0.", 10, 15)
	start, end := nj(2, 10, 0), nj(2, 26, 0)
	for i, n := range nodes {
		boot := fmt.Sprintf("9012%04d-6b1f-4c00-8000-%012d", i, i)
		r.heartbeatsWithMemory(n, boot, start.Add(-9*24*time.Hour), start.Add(time.Duration(i)*600*time.Millisecond), end, 15*time.Second, 64)
	}
	k := func(at time.Time, sig, summary, device, op, reason string, count int) {
		typ := event.TypeKernelIOError
		switch sig {
		case "xfs-error", "xfs-shutdown":
			typ = event.TypeKernelFSError
		case "hung-task":
			typ = event.TypeKernelHungTask
		}
		d := event.KernelReport{Signature: sig, Summary: summary, Device: device, Op: op, Reason: reason,
			KernelRelease: kernel, Count: count, Lines: []string{summary}}
		if count > 1 {
			d.First, d.Last = at.Add(-50*time.Second).UTC(), at.UTC()
		}
		if sig == "hung-task" {
			d.Comm, d.PID, d.Device = "mysqld", 41877, ""
		}
		r.add(typ, sick, at, d)
	}
	k(nj(2, 14, 10), "nvme-timeout", "nvme nvme1: I/O tag 87 (1057) opcode 0x1 (Write) QID 6 timeout, aborting", "nvme1", "WRITE", "aborting", 1)
	k(nj(2, 14, 41), "nvme-timeout", "nvme nvme1: I/O tag 87 (1057) opcode 0x1 (Write) QID 6 timeout, reset controller", "nvme1", "", "reset controller", 1)
	k(nj(2, 14, 41), "nvme-reset", "nvme nvme1: controller is down; will reset: CSTS=0xffffffff, PCI_STATUS=0xffff", "nvme1", "", "controller is down; will reset", 1)
	k(nj(2, 15, 11), "block-io-error", "I/O error, dev nvme1n1, sector 1811939328 op 0x1:(WRITE) flags 0x8800 phys_seg 4 prio class 2", "nvme1n1", "WRITE", "I/O", 1)
	k(nj(2, 15, 12), "xfs-error", "XFS (nvme1n1p1): log I/O error -5", "nvme1n1p1", "", "", 1)
	k(nj(2, 15, 12), "xfs-shutdown", "XFS (nvme1n1p1): Filesystem has been shut down due to log error (0x2).", "nvme1n1p1", "", "log error", 1)
	k(nj(2, 15, 44), "nvme-reset", "nvme nvme1: Disabling device after reset failure: -19", "nvme1", "", "Disabling device after reset failure", 1)
	// Rollups of the I/O errors a minute, while mysqld retries.
	for t := nj(2, 16, 11); t.Before(nj(2, 20, 0)); t = t.Add(time.Minute) {
		k(t, "block-io-error", "I/O error, dev nvme1n1, sector 1811939336 op 0x0:(READ) flags 0x80700 phys_seg 1 prio class 2", "nvme1n1", "READ", "I/O", r.between(40, 300))
	}
	k(nj(2, 17, 20), "hung-task", "INFO: task mysqld:41877 blocked for more than 122 seconds.", "", "", "", 1)
	k(nj(2, 19, 22), "hung-task", "INFO: task mysqld:41877 blocked for more than 245 seconds.", "", "", "", 1)
	return r
}

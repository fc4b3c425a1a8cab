package collector

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kernel"
	"github.com/aftershock/aftershock/internal/posture"
	"github.com/aftershock/aftershock/internal/reboot"
)

// checkReboot publishes node.reboot when the node rebooted since the
// collector last ran, and returns the tracker that records heartbeats and
// the stop marker (nil when the host gives no boot id: nothing to track).
func (c *Collector) checkReboot(ctx context.Context) *reboot.Tracker {
	log := c.log.With("source", "reboot")
	pack, err := c.kernelPack()
	if err != nil {
		// Checked at start by builtinSources when the watcher is on.
		log.Warn("extra signatures not loaded; classifying last words with the built-in pack", "err", err)
		pack = kernel.DefaultPack()
	}
	tr, err := reboot.New(reboot.Options{
		HostRoot: c.opts.HostRoot,
		StateDir: filepath.Join(c.opts.StateDir, "reboot"),
		Run:      c.opts.HostCommand,
		Classify: reboot.PackClassifier(kernel.NewMatcher(pack, kernel.Options{})),
		Log:      log,
	})
	if err != nil {
		log.Warn("reboot tracking off", "err", err)
		return nil
	}
	r, err := tr.Check(ctx)
	if err != nil {
		log.Warn("reboot check failed", "err", err)
		return tr
	}
	if r != nil {
		c.prevKernel = r.PreviousKernel
		if r.PreviousPods, err = posture.LoadPods(c.opts.StateDir, r.PreviousBootID); err != nil {
			log.Warn("pods of the previous boot unknown", "err", err)
		}
		log.Info("node rebooted", "previous_boot_id", r.PreviousBootID, "cause", r.Cause, "detail", r.CauseDetail, "clean", r.Clean)
		ev, err := event.NewEncoded(event.TypeReboot, c.source, c.opts.Cluster, c.opts.Node, r.BootTime, r)
		if err == nil {
			err = c.queue.PublishWait(ctx, ev) // kept (published or spooled) before the boot is committed
		}
		if err != nil {
			// Not committed: the next start reports it again.
			log.Error("publish node.reboot", "err", err)
			return tr
		}
	}
	if err := tr.Commit(); err != nil {
		log.Warn("save boot state", "err", err)
	}
	return tr
}

// kernelPack is the built-in signature pack extended by --signatures: one
// set of signatures for the live watcher and the reboot's last words.
func (c *Collector) kernelPack() (*kernel.Pack, error) {
	pack := kernel.DefaultPack()
	if c.opts.Signatures != "" {
		extra, err := kernel.LoadPackFile(c.opts.Signatures)
		if err != nil {
			return nil, fmt.Errorf("signatures: %w", err)
		}
		pack = pack.Extend(extra)
	}
	return pack, nil
}

// recordStop writes the stop marker; the next boot's node.reboot reads it
// to tell an orderly shutdown from a crash.
func (c *Collector) recordStop(tr *reboot.Tracker) {
	if tr == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ShutdownTimeout)
	defer cancel()
	stopping, err := tr.Stopped(ctx, c.now())
	if err != nil {
		c.log.Warn("record stop", "err", err)
		return
	}
	c.log.Info("stopped", "system_stopping", stopping)
}

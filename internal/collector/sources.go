package collector

import (
	"context"
	"errors"
	"fmt"

	"github.com/aftershock/aftershock/internal/dnsprobe"
	"github.com/aftershock/aftershock/internal/kernel"
	"github.com/aftershock/aftershock/internal/logtail"
)

// funcSource adapts a watcher whose Run takes its own Emitter interface (the
// consumer owns it, so watcher packages need not import collector).
type funcSource struct {
	name string
	run  func(ctx context.Context, emit Emitter) error
}

func (s funcSource) Name() string                                { return s.name }
func (s funcSource) Run(ctx context.Context, emit Emitter) error { return s.run(ctx, emit) }

// builtinSources builds the watchers enabled in the options; a bad
// configuration fails the start with the field named.
func (c *Collector) builtinSources() ([]Source, error) {
	var out []Source
	if c.opts.DNSEnabled {
		cfg := c.opts.DNS
		if c.opts.DNSResolvConf {
			cfg.ResolvConf = dnsprobe.ResolvConfUnder(c.opts.HostRoot)
		}
		p, err := dnsprobe.New(cfg, c.log.With("source", "dns"))
		switch {
		case errors.Is(err, dnsprobe.ErrNoResolvers) && len(cfg.Targets) == 0:
			// The default (the host's resolv.conf) found nothing: not a
			// reason to refuse to start.
			c.log.Warn("dns probes off", "err", err)
		case err != nil:
			return nil, fmt.Errorf("dns probes: %w", err)
		default:
			out = append(out, funcSource{p.Name(), func(ctx context.Context, e Emitter) error { return p.Run(ctx, e) }})
		}
	}
	if len(c.opts.LogGlobs) > 0 {
		patterns, err := logtail.LoadPatterns(c.opts.LogPatterns)
		if err != nil {
			return nil, err
		}
		src, err := logtail.New(logtail.Config{
			Globs: c.opts.LogGlobs, Patterns: patterns, StateDir: c.opts.StateDir,
			FromStart: c.opts.LogFromStart, Rollup: c.opts.LogRollup,
		}, c.log.With("source", "logs"))
		if err != nil {
			return nil, fmt.Errorf("log tail: %w", err)
		}
		out = append(out, funcSource{src.Name(), func(ctx context.Context, e Emitter) error { return src.Run(ctx, e) }})
	}
	if c.opts.Kmsg != "" {
		pack, err := c.kernelPack()
		if err != nil {
			return nil, err
		}
		w, err := kernel.NewWatcher(kernel.WatcherOptions{
			Device: c.opts.Kmsg, Host: c.host, StateDir: c.opts.StateDir, Pack: pack,
			Matcher: kernel.Options{RollupInterval: c.opts.KernelRollup}, Log: c.log, Registerer: c.ops.Registry,
		})
		if err != nil {
			return nil, err
		}
		out = append(out, funcSource{w.Name(), func(ctx context.Context, e Emitter) error { return w.Run(ctx, e) }})
	}
	return out, nil
}

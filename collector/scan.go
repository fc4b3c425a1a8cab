package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"time"

	"github.com/aftershock/aftershock/internal/kernel"
	"github.com/aftershock/aftershock/internal/kmsg"
)

const scanUsage = `collector scan: classify saved kernel logs offline and print the events
the collector would publish, one CloudEvent JSON per line.

Usage:
  collector scan [flags] FILE...     ("-" reads stdin)

Examples:
  dmesg | collector scan -
  journalctl -k -b -1 | collector scan --format journal -
  collector scan --node 172.21.128.138 /var/crash/202006141314/dmesg.202006141314

Flags:
`

func runScan(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("collector scan", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), scanUsage)
		fs.PrintDefaults()
	}
	var (
		o        kernel.ScanOptions
		format   string
		bootTime string
		sigs     string
		tz       string
	)
	host, _ := os.Hostname()
	fs.StringVar(&format, "format", "auto", "input format: kmsg, dmesg, journal or auto (detected per file)")
	fs.StringVar(&bootTime, "boot-time", "", "RFC 3339 boot time anchoring since-boot timestamps (kmsg, dmesg); without it they count from the Unix epoch")
	fs.IntVar(&o.Log.Year, "year", 0, "year of syslog timestamps, which have none (default: this year)")
	fs.StringVar(&tz, "tz", "Local", "time zone of syslog and dmesg -T timestamps, e.g. UTC or Asia/Shanghai")
	fs.StringVar(&sigs, "signatures", "", "extra signature pack, placed before the built-in one")
	fs.DurationVar(&o.Matcher.RollupInterval, "rollup", time.Minute, "repeats of a line are counted into one event per this interval (log time)")
	fs.StringVar(&o.Cluster, "cluster", envOr("AFTERSHOCK_CLUSTER", "default"), "cluster of the printed events")
	fs.StringVar(&o.Node, "node", envOr("AFTERSHOCK_NODE", host), "node of the printed events")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() == 0 {
		fmt.Fprintln(stderr, "collector scan: no FILE (use - for stdin)")
		return 2
	}
	var err error
	var errs []error
	if o.Log.Format, err = kmsg.ParseFormat(format); err != nil {
		errs = append(errs, fmt.Errorf("--format: %w", err))
	}
	if bootTime != "" {
		if o.Log.BootTime, err = time.Parse(time.RFC3339Nano, bootTime); err != nil {
			errs = append(errs, fmt.Errorf("--boot-time %q: want RFC 3339, e.g. 2020-06-14T13:15:06+08:00", bootTime))
		}
	}
	if o.Log.Location, err = time.LoadLocation(tz); err != nil {
		errs = append(errs, fmt.Errorf("--tz: %w", err))
	}
	o.Pack = kernel.DefaultPack()
	if sigs != "" {
		extra, err := kernel.LoadPackFile(sigs)
		if err != nil {
			errs = append(errs, fmt.Errorf("--signatures: %w", err))
		} else {
			o.Pack = o.Pack.Extend(extra)
		}
	}
	if o.Node == "" {
		errs = append(errs, errors.New("--node: empty and the hostname is unknown"))
	}
	if err := errors.Join(errs...); err != nil {
		fmt.Fprintf(stderr, "collector scan: %v\n", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	st, err := kernel.ScanFiles(ctx, stdout, stdin, fs.Args(), o)
	fmt.Fprintf(stderr, "collector scan: %d events from %d lines in %d files (%d malformed lines read as plain text)\n",
		st.Events, st.Lines, st.Files, st.Malformed)
	if err != nil {
		fmt.Fprintf(stderr, "collector scan: %v\n", err)
		return 1
	}
	return 0
}

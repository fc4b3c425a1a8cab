// Package kernel classifies kernel log lines into aftershock's kernel.*
// events with a signature pack, and watches /dev/kmsg on a node.
//
// # API for other packages (stable)
//
// Offline classification, e.g. of a previous boot's last words:
//
//	m := kernel.NewMatcher(kernel.DefaultPack(), kernel.Options{})
//	findings := m.Scan(lines) // lines []kmsg.Line, from kmsg.Scanner or kmsg.Reader
//	// or straight from a saved log (journal, kern.log, pstore, vmcore-dmesg):
//	findings, stats, err := m.ScanLog(r, kmsg.Options{Format: kmsg.FormatAuto, BootTime: bt})
//	for _, f := range findings {
//		// f.Type is an event type (event.TypeKernelBug, …); f.Data is
//		// *event.KernelReport, or *event.OOM for event.TypeKernelOOM.
//	}
//
// Scan returns findings ordered by the time of their first line. A
// multi-line report (cut here … end trace, invoked oom-killer … Killed
// process) is one finding; a report cut short (the node died, the log ends,
// the journal says "-- Reboot --") is still one. Repeats of rollup
// signatures (conntrack drops, netdevice waits, I/O errors) are one finding
// for the first line, then one per rollup interval with the count of the
// repeats. Matcher is safe for concurrent use; Scan keeps no state between
// calls. For a live log, NewStream feeds lines one by one.
//
// event.OOM.Constraint tells a container OOM inside its limit
// (event.OOMMemcg) from a node-wide one (event.OOMGlobal).
package kernel

import (
	"io"
	"slices"
	"time"

	"github.com/aftershock/aftershock/internal/kmsg"
)

// Options tune a Matcher; zero values take the defaults.
type Options struct {
	// RollupInterval is how long repeats of a rollup signature are
	// counted before one event reports them (default 1m).
	RollupInterval time.Duration
	// ReportTimeout ends a report that has no end marker (a lockup, a hung
	// task, a BUG whose node died) when no line came for this long, in log
	// time (default 10s).
	ReportTimeout time.Duration
}

func (o *Options) defaults() {
	if o.RollupInterval <= 0 {
		o.RollupInterval = time.Minute
	}
	if o.ReportTimeout <= 0 {
		o.ReportTimeout = 10 * time.Second
	}
}

// Finding is one classified event.
type Finding struct {
	// Type is the event type, e.g. event.TypeKernelBug.
	Type string
	// Time is when the first line was logged: its wall time, else the
	// Unix epoch plus its since-boot time, else zero.
	Time time.Time
	// Mono is the since-boot time of the first line; negative if unknown.
	Mono time.Duration
	// Seq is the kmsg sequence number of the first line (0 if none).
	Seq uint64
	// Data is *event.KernelReport, or *event.OOM for kernel.oom.
	Data any
}

// Matcher classifies lines with a compiled pack. It is immutable and safe
// for concurrent use.
type Matcher struct {
	pack   *Pack
	opts   Options
	filter *prefilter
	words  int // uint64 words of a signature bit set
}

// NewMatcher compiles the pack's prefilter.
func NewMatcher(p *Pack, opts Options) *Matcher {
	opts.defaults()
	lits := make([]string, len(p.sigs))
	for i, s := range p.sigs {
		lits[i] = s.Contains
	}
	return &Matcher{pack: p, opts: opts, filter: newPrefilter(lits), words: (len(p.sigs) + 63) / 64}
}

// Scan classifies lines offline and returns the findings ordered by time.
func (m *Matcher) Scan(lines []kmsg.Line) []Finding {
	var out []Finding
	st := m.NewStream(func(f Finding) { out = append(out, f) })
	for i := range lines {
		st.Feed(lines[i])
	}
	st.Flush()
	slices.SortStableFunc(out, func(a, b Finding) int { return a.Time.Compare(b.Time) })
	return out
}

// ScanLog reads a saved log with kmsg.Scanner and classifies it like Scan.
// A read error is returned with the findings of what was read before it.
func (m *Matcher) ScanLog(r io.Reader, o kmsg.Options) ([]Finding, kmsg.Stats, error) {
	sc := kmsg.NewScanner(r, o)
	var lines []kmsg.Line
	for sc.Scan() {
		lines = append(lines, sc.Line())
	}
	return m.Scan(lines), sc.Stats(), sc.Err()
}

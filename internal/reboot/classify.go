package reboot

import (
	"fmt"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// Finding is one kernel event found in saved kernel log lines.
type Finding struct {
	// Type is the event type, e.g. event.TypeKernelBug.
	Type string
	Time time.Time
	// Data is *event.KernelReport, or *event.OOM for kernel.oom.
	Data any
}

// Classifier finds kernel events in saved log lines of a format
// (FormatJournal or FormatDmesg), their syslog timestamps completed by d.
// The collector passes the kernel signature pack: there is one set of
// signatures, and this package has none of its own.
type Classifier func(format string, lines []string, d Dating) []Finding

// Dating completes classic syslog timestamps ("Jun 14 13:14:38"), which
// have neither year nor zone: Location is the zone they were written in
// (nil: the local one), and their year is the one that puts them at most a
// day after Ref (zero: the current year).
type Dating struct {
	Location *time.Location
	Ref      time.Time
}

// sourced is a finding and the last words it came from.
type sourced struct {
	Finding
	lw lastWords
}

// causeRank orders the findings that can end a boot, most specific first: a
// panic usually follows (and is explained by) a BUG, a lockup or a global
// OOM, and an uncorrected hardware error explains whatever software report
// follows it. A memcg OOM is a container at its limit, not a node's death,
// and other kernel events (conntrack, I/O errors, corrected memory errors)
// do not reboot a node.
func causeRank(f Finding) (cause string, rank int) {
	switch f.Type {
	case event.TypeKernelMCE:
		if kr, ok := f.Data.(*event.KernelReport); ok && !hardwareSurvivable(kr.Reason) {
			return event.CauseHardware, 1
		}
	case event.TypeKernelBug:
		return event.CauseKernelBug, 2
	case event.TypeKernelLockup:
		return event.CauseLockup, 3
	case event.TypeKernelOOM:
		if o, ok := f.Data.(*event.OOM); ok && o.Constraint == event.OOMGlobal {
			return event.CauseOOM, 4
		}
	case event.TypeKernelPanic:
		return event.CausePanic, 5
	}
	return "", 0
}

// hardwareSurvivable says a kernel.mce report's reason is one the machine
// lives through: corrected, recoverable, informational, or none given.
func hardwareSurvivable(reason string) bool {
	switch reason {
	case "", "corrected", "recoverable", "info":
		return true
	}
	return false
}

// pickCause chooses the finding that explains the end of the boot: the best
// ranked, and of equals the latest. crashed says a crash dump (pstore,
// kdump) holds a fatal finding: the kernel died, whatever else was seen.
func pickCause(found []sourced) (best sourced, ok, crashed bool) {
	bestRank := 0
	for _, f := range found {
		_, r := causeRank(f.Finding)
		if r == 0 {
			continue
		}
		crashed = crashed || f.lw.crashDump
		if bestRank == 0 || r < bestRank || r == bestRank && !f.Time.Before(best.Time) {
			best, bestRank = f, r
		}
	}
	return best, bestRank != 0, crashed
}

// describe turns the cause finding into the reboot's cause fields; found
// is every finding of the boot (a global OOM's panic says why the node
// died of it).
func describe(f Finding, found []sourced) (cause, typ, detail string, mi *event.Meminfo) {
	cause, _ = causeRank(f)
	switch d := f.Data.(type) {
	case *event.KernelReport:
		return cause, f.Type, d.Summary, d.Meminfo
	case *event.OOM:
		return cause, f.Type, oomDetail(d, found), d.Meminfo
	}
	return cause, f.Type, "", nil
}

// oomPanic is why a kernel panic that followed an OOM panicked, in a few
// words, or "" when the panic does not say memory.
func oomPanic(summary string) string {
	switch {
	case strings.Contains(summary, "panic_on_oom"):
		return "panic_on_oom"
	case strings.Contains(summary, "no killable processes"):
		return "no killable processes"
	case strings.Contains(summary, "Out of memory"), strings.Contains(summary, "deadlocked on memory"):
		return "kernel panic"
	}
	return ""
}

// oomDetail is "java invoked oom-killer; global OOM (panic_on_oom): killed
// java (pid 30311, 6.9 GiB resident)": who asked for memory, why the OOM
// became a panic (panic_on_oom, nothing left to kill), and the victim.
// With panic_on_oom the kernel panics before it picks a victim, so there
// may be none to name.
func oomDetail(d *event.OOM, found []sourced) string {
	var b strings.Builder
	if d.InvokerComm != "" {
		b.WriteString(d.InvokerComm + " invoked oom-killer; ")
	}
	b.WriteString("global OOM")
	for _, f := range found {
		if kr, ok := f.Data.(*event.KernelReport); ok && f.Type == event.TypeKernelPanic {
			if why := oomPanic(kr.Summary); why != "" {
				b.WriteString(" (" + why + ")")
				break
			}
		}
	}
	if d.VictimComm != "" || d.VictimPID != 0 {
		fmt.Fprintf(&b, ": killed %s (pid %d, %s resident)", d.VictimComm, d.VictimPID, event.KiB(d.VictimRSSKB))
	}
	return b.String()
}

func kernelOf(f Finding) string {
	switch d := f.Data.(type) {
	case *event.KernelReport:
		return d.KernelRelease
	case *event.OOM:
		return d.KernelRelease
	}
	return ""
}

package kernel

import (
	"math/bits"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kmsg"
	"github.com/aftershock/aftershock/internal/rollup"
)

// Stream assembles findings from lines fed in log order. It is not safe for
// concurrent use; the kernel watcher owns one.
type Stream struct {
	m        *Matcher
	out      func(Finding)
	set      []uint64
	rep      *report
	roll     *rollup.Rollup[repeat]
	rollOpen bool
	nextDue  time.Time
	clock    time.Time
	lastMono time.Duration
	stats    StreamStats
}

// StreamStats counts what a Stream did.
type StreamStats struct {
	Lines    int
	Findings int
	// Unclassified counts reports that nothing classified, e.g. a WARNING
	// in a cut-here block: they publish nothing.
	Unclassified int
	// Rolled counts lines folded into a rollup instead of an event of
	// their own.
	Rolled int
}

// repeat is the rollup value: the repeats after a group's first line,
// which was published on its own.
type repeat struct {
	f     Finding
	first time.Time
	n     int
}

func mergeRepeat(dst *repeat, src repeat) {
	if dst.n == 0 {
		dst.f, dst.first = src.f, src.first
	}
	dst.n++
}

// NewStream returns a stream that calls emit for each finding, in the
// order they complete.
func (m *Matcher) NewStream(emit func(Finding)) *Stream {
	return &Stream{
		m:        m,
		out:      emit,
		set:      make([]uint64, m.words),
		roll:     rollup.New(m.opts.RollupInterval, mergeRepeat),
		lastMono: -1,
	}
}

// Stats returns the counts so far.
func (s *Stream) Stats() StreamStats { return s.stats }

// Pending returns the sequence number of the first line of the report
// being assembled, so a restart can re-read it; ok is false when there is
// none.
func (s *Stream) Pending() (seq uint64, ok bool) {
	if s.rep == nil || s.rep.seq == 0 {
		return 0, false
	}
	return s.rep.seq, true
}

// WallTime is when f was logged, or zero when its lines carried no date:
// Time orders undated findings by epoch + time since boot (lineClock).
func (f Finding) WallTime() time.Time {
	if f.Mono >= 0 && f.Time.Equal(time.Unix(0, int64(f.Mono))) {
		return time.Time{}
	}
	return f.Time
}

// lineClock is the time of a line: wall time, else epoch + since-boot.
func lineClock(l *kmsg.Line) time.Time {
	if !l.Time.IsZero() {
		return l.Time
	}
	if l.Mono >= 0 {
		return time.Unix(0, int64(l.Mono)).UTC()
	}
	return time.Time{}
}

// Feed classifies one line.
func (s *Stream) Feed(l kmsg.Line) {
	if l.Reboot {
		s.Flush()
		s.lastMono = -1
		return
	}
	if l.Facility != 0 { // user space writing to /dev/kmsg
		return
	}
	s.stats.Lines++
	if l.Mono >= 0 {
		if s.lastMono >= 0 && l.Mono+time.Second < s.lastMono {
			s.Flush() // since-boot time went back: a later boot's log
		}
		s.lastMono = l.Mono
	}
	t := lineClock(&l)
	if t.IsZero() {
		t = s.clock
	} else {
		s.Tick(t)
		s.clock = t
	}
	if !s.m.filter.match(l.Text, s.set) {
		if s.rep != nil {
			s.rep.add(l.Text, t, bodyLine(l.Text))
		}
		return
	}
	handled := false
	for w := range s.set {
		for b := s.set[w]; b != 0; b &= b - 1 {
			if !handled {
				handled = s.try(w*64+bits.TrailingZeros64(b), &l, t)
			}
		}
		s.set[w] = 0
	}
	if !handled && s.rep != nil {
		s.rep.add(l.Text, t, bodyLine(l.Text))
	}
}

// Tick ends a report idle for longer than the report timeout and emits due
// rollups, at now (log time). The live watcher calls it on a timer too.
func (s *Stream) Tick(now time.Time) {
	if s.rep != nil && !s.rep.last.IsZero() && now.Sub(s.rep.last) > s.m.opts.ReportTimeout {
		s.flushReport()
	}
	if s.rollOpen && !now.Before(s.nextDue) {
		for _, g := range s.roll.Due(now) {
			s.emitRepeats(g)
		}
		s.rollOpen = s.roll.Len() > 0
		s.nextDue = now.Add(time.Second)
	}
}

// Flush emits the open report and every rollup: the end of the input, or
// a reboot in it.
func (s *Stream) Flush() {
	s.flushReport()
	for _, g := range s.roll.Flush() {
		s.emitRepeats(g)
	}
	s.rollOpen = false
}

func (s *Stream) emit(f Finding) {
	s.stats.Findings++
	s.out(f)
}

func (s *Stream) emitRepeats(g rollup.Group[repeat]) {
	if g.Value.n == 0 {
		return
	}
	f := g.Value.f
	if kr, ok := f.Data.(*event.KernelReport); ok {
		kr.Count, kr.First, kr.Last = g.Value.n, g.Value.first.UTC(), g.Last.UTC()
	}
	f.Time = g.Value.first
	s.emit(f)
}

func (s *Stream) flushReport() {
	r := s.rep
	if r == nil {
		return
	}
	s.rep = nil
	if r.typ == "" {
		s.stats.Unclassified++
		return
	}
	s.emit(r.finding())
}

// kind is what a signature's joins are compared with.
func (s *Stream) kind() string {
	if s.rep.typ == "" {
		return joinWarning
	}
	return s.rep.typ
}

// try applies signature i to l; it reports whether the signature took the
// line.
func (s *Stream) try(i int, l *kmsg.Line, t time.Time) bool {
	sg := s.m.pack.sigs[i]
	joins := s.rep != nil && sg.joinsKind(s.kind(), s.rep.opener, s.rep.classifier())
	if sg.Report == RoleField && !joins {
		return false
	}
	var m []int
	if sg.re != nil {
		if m = sg.re.FindStringSubmatchIndex(l.Text); m == nil {
			return false
		}
	}
	switch sg.Report {
	case RoleOpen:
		if !joins {
			s.flushReport()
			s.rep = newReport(l, t)
			s.rep.opener = sg.Name
		}
		s.rep.add(l.Text, t, true)
	case RoleField:
		s.rep.add(l.Text, t, true)
		s.rep.capture(sg, l.Text, m)
	case RoleStart:
		if !joins {
			s.flushReport()
			s.rep = newReport(l, t)
			s.rep.opener = sg.Name
		}
		s.rep.add(l.Text, t, true)
		s.rep.classify(sg, l.Text)
		s.rep.capture(sg, l.Text, m)
	case RoleEnd:
		if joins {
			s.rep.add(l.Text, t, true)
			s.rep.classify(sg, l.Text)
			s.rep.capture(sg, l.Text, m)
			s.flushReport()
		} else if sg.Type != "" {
			s.single(sg, l, t, m)
		}
	default: // RoleLine
		if joins {
			s.rep.add(l.Text, t, true)
			s.rep.classify(sg, l.Text)
			s.rep.capture(sg, l.Text, m)
		} else {
			s.single(sg, l, t, m)
		}
	}
	return true
}

// single emits a one-line finding, or counts it into its rollup.
func (s *Stream) single(sg *sig, l *kmsg.Line, t time.Time, m []int) {
	r := newReport(l, t)
	r.add(l.Text, t, true)
	r.classify(sg, l.Text)
	r.capture(sg, l.Text, m)
	f := r.finding()
	if !sg.Rollup {
		s.emit(f)
		return
	}
	key := sg.Name + "\x00" + r.vals[capDevice]
	if s.roll.Add(key, t, repeat{f: f, first: t}) {
		s.emit(f)
		if !s.rollOpen {
			s.nextDue = t.Add(s.m.opts.RollupInterval)
		}
		s.rollOpen = true
		return
	}
	s.stats.Rolled++
}

// normaliseConstraint maps the kernel's spellings to event.OOM* values.
func normaliseConstraint(c string) string {
	switch c {
	case "CONSTRAINT_NONE", "Out of memory":
		return event.OOMGlobal
	case "CONSTRAINT_MEMCG", "Memory cgroup out of memory":
		return event.OOMMemcg
	case "CONSTRAINT_CPUSET":
		return event.OOMCpuset
	case "CONSTRAINT_MEMORY_POLICY":
		return event.OOMPolicy
	}
	return strings.ToLower(strings.TrimPrefix(c, "CONSTRAINT_"))
}

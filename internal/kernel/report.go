package kernel

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kmsg"
	"github.com/aftershock/aftershock/internal/posture"
)

// Bounds on what one report keeps, so an event stays far below 64 KiB.
const (
	headLines    = 64
	tailLines    = 16
	maxLineBytes = 512
	maxFrames    = 16
)

// report is a finding being assembled.
type report struct {
	sig     *sig   // the classifying signature; nil while unclassified
	opener  string // the signature that began the report
	typ     string
	summary string
	start   time.Time
	last    time.Time
	mono    time.Duration
	seq     uint64
	vals    [numCaps]string
	head    []string
	tail    []string // ring of the last lines once head is full
	tailAt  int
	lines   int
	trace   trace
}

func newReport(l *kmsg.Line, t time.Time) *report {
	return &report{start: t, last: t, mono: l.Mono, seq: l.Seq}
}

func clip(s string) string {
	if len(s) > maxLineBytes {
		s = s[:maxLineBytes]
	}
	return strings.Clone(s) // do not pin the reader's block
}

// add keeps a line of the report. Only lines that belong to it for sure
// (taken by a signature, or shaped like report body) keep it alive: log
// chatter after a hung task report must not hold it open.
func (r *report) add(text string, t time.Time, body bool) {
	if body && !t.IsZero() {
		r.last = t
	}
	r.lines++
	r.trace.feed(text)
	if len(r.head) < headLines {
		r.head = append(r.head, clip(text))
		return
	}
	// The tail ring turns over fast in a long report: copy lines out of
	// the reader's buffer only when the report is emitted.
	if len(r.tail) < tailLines {
		r.tail = append(r.tail, text)
		return
	}
	r.tail[r.tailAt] = text
	r.tailAt = (r.tailAt + 1) % tailLines
}

func (r *report) rawLines() []string {
	out := make([]string, 0, len(r.head)+len(r.tail)+1)
	out = append(out, r.head...)
	if omitted := r.lines - len(r.head) - len(r.tail); omitted > 0 {
		out = append(out, fmt.Sprintf("[… %d lines omitted …]", omitted))
	}
	for _, l := range r.tail[r.tailAt:] {
		out = append(out, clip(l))
	}
	for _, l := range r.tail[:r.tailAt] {
		out = append(out, clip(l))
	}
	return out
}

// bodyLine reports whether a line not taken by a signature looks like part
// of a kernel report: stack and register dumps, call trace frames, task
// tables are indented or bracketed; the rest have well-known heads.
func bodyLine(s string) bool {
	if s == "" {
		return false
	}
	switch s[0] {
	case ' ', '\t', '[', '<', '#':
		return true
	}
	for _, p := range bodyPrefixes[s[0]] {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// bodyPrefixes are the heads of report lines, by first byte.
var bodyPrefixes = func() (t [256][]string) {
	for _, p := range []string{
		"Call Trace:", "RIP", "RSP", "RAX", "RBX", "RDX", "RBP", "R10", "R13", "FS:", "CS:", "CR2", "Code:", "Stack:",
		"Modules linked in", "Hardware name", "Workqueue:", "task:", "Mem-Info", "Node ", "Tasks state",
		"Task dump", "NMI backtrace", "Sending NMI", "Kernel Offset", "PGD", "IP:", "Free swap", "Total swap",
		"Memory cgroup", "memory:", "memory+swap", "kmem:", "swap:", "active_anon", "lowmem_reserve",
		// arm64 oops: register dump, fault decoding, "Call trace:".
		"pc ", "lr ", "sp ", "x2", "x1", "x9", "x6", "x3", "x0", "pstate", "PC is at", "LR is at", "Mem abort", "ESR", "EC ",
		"SET ", "FnV", "EA ", "S1PTW", "FSC", "Data abort", "ISV", "CM ", "WnR", "user pgtable", "swapper pgtable",
		"Internal error", "Process ", "Call trace:", "#PF:", "PGD", "P4D", "PUD", "PMD", "PTE",
		"CPU#", // 6.x soft lockup: "CPU#3 Utilization every 4s during lockup:"
	} {
		t[p[0]] = append(t[p[0]], p)
	}
	return t
}()

// classifier is the name of the classifying signature, "" while there is none.
func (r *report) classifier() string {
	if r.sig == nil {
		return ""
	}
	return r.sig.Name
}

// classify sets the report's type from the first signature that has one.
func (r *report) classify(sg *sig, text string) {
	if r.typ != "" || sg.Type == "" {
		return
	}
	r.sig, r.typ, r.summary = sg, sg.Type, clip(text)
}

// capture copies the regexp's named groups into empty fields: the first
// line that names a field wins.
func (r *report) capture(sg *sig, text string, m []int) {
	for _, c := range sg.caps {
		if a, b := m[2*c.group], m[2*c.group+1]; a >= 0 && r.vals[c.field] == "" {
			r.vals[c.field] = strings.Clone(text[a:b])
		}
	}
}

func (r *report) finding() Finding {
	f := Finding{Type: r.typ, Time: r.start, Mono: r.mono, Seq: r.seq}
	if r.typ == event.TypeKernelOOM {
		f.Data = r.oom()
	} else {
		f.Data = r.kernelReport()
	}
	return f
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func (r *report) kernelReport() *event.KernelReport {
	v := &r.vals
	kr := &event.KernelReport{
		Signature:     r.sig.Name,
		Summary:       r.summary,
		File:          stripBuildPrefix(v[capFile]),
		Line:          atoi(v[capLine]),
		Comm:          v[capComm],
		PID:           atoi(v[capPID]),
		KernelRelease: v[capRelease],
		Tainted:       normaliseTaint(v[capTainted]),
		CallTrace:     r.trace.top(),
		Device:        v[capDevice],
		Driver:        v[capDriver],
		Op:            v[capOp],
		Reason:        strings.TrimSpace(v[capReason]),
		Lines:         r.rawLines(),
		Count:         1,
		First:         r.start.UTC(),
		Last:          r.last.UTC(),
	}
	if r.typ == event.TypeKernelMCE {
		kr.Reason = hardwareSeverity(kr.Reason, v[capMCEStatus])
	}
	if v[capFile] != "" && kr.File != v[capFile] {
		kr.Summary = strings.Replace(kr.Summary, v[capFile], kr.File, 1)
	}
	return kr
}

func (r *report) oom() *event.OOM {
	v := &r.vals
	o := &event.OOM{
		Constraint:    normaliseConstraint(v[capConstraint]),
		InvokerComm:   v[capInvokerComm],
		InvokerPID:    atoi(v[capInvokerPID]),
		VictimComm:    v[capVictimComm],
		VictimPID:     atoi(v[capVictimPID]),
		VictimRSSKB:   int64(atoi(v[capAnonRSS]) + atoi(v[capFileRSS]) + atoi(v[capShmemRSS])),
		KernelRelease: v[capRelease],
		Lines:         r.rawLines(),
	}
	if o.InvokerComm == "" {
		o.InvokerComm = v[capComm]
	}
	if o.InvokerPID == 0 {
		o.InvokerPID = atoi(v[capPID])
	}
	if o.Constraint == "" {
		// 4.x kernels print no oom-kill: line; a memcg OOM says whose
		// limit was hit, a global one says nothing.
		o.Constraint = event.OOMGlobal
		if v[capOOMMemcg] != "" {
			o.Constraint = event.OOMMemcg
		}
	}
	o.Memcg = v[capTaskMemcg]
	if o.Constraint == event.OOMMemcg && v[capOOMMemcg] != "" {
		o.Memcg = v[capOOMMemcg]
	}
	cg := v[capTaskMemcg]
	if cg == "" {
		cg = v[capOOMMemcg]
	}
	o.PodUID, o.ContainerID = posture.KubeCgroup(cg)
	return o
}

// normaliseTaint collapses the fixed-width taint flags "G        W  OE"
// to "G W OE".
func normaliseTaint(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// trace collects the top frames of a report's first call trace.
type trace struct {
	state      int8 // 0 before "Call Trace:", 1 in it, 2 after it
	frames     []string
	unreliable []string
}

func (t *trace) feed(text string) {
	if t.state == 2 {
		return
	}
	s := strings.TrimLeft(text, " \t")
	if t.state == 0 {
		// x86 prints "Call Trace:", arm64 "Call trace:".
		if strings.HasPrefix(s, "Call Trace:") || strings.HasPrefix(s, "Call trace:") {
			t.state = 1
		}
		return
	}
	// Stack-switch markers: " <IRQ>", " </TASK>", 4.x's " <IRQ>  [<…>] frame".
	for strings.HasPrefix(s, "<") && !strings.HasPrefix(s, "<ffff") {
		end := strings.IndexByte(s, '>')
		if end < 0 {
			break
		}
		s = strings.TrimLeft(s[end+1:], " ")
		if s == "" {
			return
		}
	}
	frame, unreliable, ok := parseFrame(s)
	if !ok {
		t.state = 2
		return
	}
	if unreliable {
		if len(t.unreliable) < maxFrames {
			t.unreliable = append(t.unreliable, frame)
		}
	} else if len(t.frames) < maxFrames {
		t.frames = append(t.frames, frame)
	}
}

// top is the reliable frames, or the "?" ones when there are no others.
func (t *trace) top() []string {
	if len(t.frames) > 0 {
		return t.frames
	}
	return t.unreliable
}

// parseFrame reads "[<ffffffff8121a52e>] ? ____fput+0xe/0x10 [mod]" (4.x)
// or "? ____fput+0xe/0x10 [mod]" (5.x+).
func parseFrame(s string) (frame string, unreliable, ok bool) {
	if strings.HasPrefix(s, "[<") {
		end := strings.Index(s, ">]")
		if end < 0 {
			return "", false, false
		}
		s = strings.TrimLeft(s[end+2:], " ")
	}
	if strings.HasPrefix(s, "? ") {
		unreliable = true
		s = s[2:]
	}
	plus := strings.Index(s, "+0x")
	if plus <= 0 || !strings.Contains(s[plus:], "/0x") {
		return "", false, false
	}
	c := s[0]
	if !(c == '_' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
		return "", false, false
	}
	s = strings.TrimRight(s, " ")
	// 6.13+ arm64 marks where a frame came from: " (P)" pc, " (L)" lr, …
	if n := len(s); n > 4 && s[n-4] == ' ' && s[n-3] == '(' && s[n-1] == ')' && s[n-2] >= 'A' && s[n-2] <= 'Z' {
		s = s[:n-4]
	}
	return clip(s), unreliable, true
}

package kernel

import (
	_ "embed"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"sync"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/yamlfile"
)

//go:embed signatures.yaml
var defaultPackYAML []byte

// Report roles of a signature: how its line relates to multi-line reports.
const (
	// RoleLine is a one-line event (conntrack drops, I/O errors, …).
	RoleLine = "line"
	// RoleStart begins a report (BUG, oops, lockup, OOM, …).
	RoleStart = "start"
	// RoleOpen begins an unclassified report ("cut here"), classified by
	// the next signature that joins it.
	RoleOpen = "open"
	// RoleEnd ends a report ("end trace", "Killed process").
	RoleEnd = "end"
	// RoleField only adds data to an open report (the CPU/Comm line).
	RoleField = "field"
)

// Join targets besides the kernel event types.
const (
	joinWarning = "warning" // an open report not classified yet
	joinAny     = "*"
)

// Signature is one entry of a signature pack file.
type Signature struct {
	Name        string `yaml:"name"`
	Description string `yaml:"description,omitempty"`
	// Type is the event type of what the signature matches (kernel.bug…);
	// empty for framing and field signatures.
	Type string `yaml:"type,omitempty"`
	// Report is the role: line (default), start, open, end or field.
	Report string `yaml:"report,omitempty"`
	// Joins lists the open reports this line belongs to instead of
	// starting its own: "warning" (an unclassified cut-here report), an
	// event type, the name of the signature that began or classified the
	// report, or "*". A start or open that joins nothing ends the open
	// report.
	Joins []string `yaml:"joins,omitempty"`
	// Contains is a literal the line must contain: the cheap prefilter. It
	// is taken from the regexp when omitted.
	Contains string `yaml:"contains,omitempty"`
	// Regexp, if set, must match too; its named groups fill event data.
	Regexp string `yaml:"regexp,omitempty"`
	// Rollup rolls repeats up per signature and device (line signatures).
	Rollup bool `yaml:"rollup,omitempty"`
	// Disabled removes the default signature of the same name.
	Disabled bool `yaml:"disabled,omitempty"`
}

// Capture group names a regexp may use, and where they go.
const (
	capFile = iota
	capLine
	capComm
	capPID
	capTainted
	capRelease
	capDevice
	capConstraint
	capOOMMemcg
	capTaskMemcg
	capVictimComm
	capVictimPID
	capAnonRSS
	capFileRSS
	capShmemRSS
	capInvokerComm
	capInvokerPID
	capReason
	capOp
	capDriver
	capMCEStatus
	numCaps
)

var capNames = map[string]int{
	"file": capFile, "line": capLine, "comm": capComm, "pid": capPID,
	"tainted": capTainted, "release": capRelease, "device": capDevice,
	"constraint": capConstraint, "oom_memcg": capOOMMemcg, "task_memcg": capTaskMemcg,
	"victim_comm": capVictimComm, "victim_pid": capVictimPID,
	"anon_rss": capAnonRSS, "file_rss": capFileRSS, "shmem_rss": capShmemRSS,
	"invoker_comm": capInvokerComm, "invoker_pid": capInvokerPID,
	"reason": capReason, "op": capOp, "driver": capDriver, "mce_status": capMCEStatus,
}

var kernelTypes = []string{
	event.TypeKernelBug, event.TypeKernelPanic, event.TypeKernelLockup, event.TypeKernelHungTask,
	event.TypeKernelOOM, event.TypeKernelConntrack, event.TypeKernelNetdevLeak,
	event.TypeKernelFSError, event.TypeKernelIOError, event.TypeKernelNetTxTimeout, event.TypeKernelMCE,
}

// sig is a compiled signature.
type sig struct {
	Signature
	pos   string // file:line
	re    *regexp.Regexp
	caps  []capture
	joins []string
}

type capture struct{ group, field int }

// joinsKind reports whether s joins an open report of kind (its type, or
// "warning") begun or classified by the signatures named in by.
func (s *sig) joinsKind(kind string, by ...string) bool {
	for _, j := range s.joins {
		if j == joinAny || j == kind {
			return true
		}
		for _, b := range by {
			if j == b {
				return true
			}
		}
	}
	return false
}

// Pack is a compiled, ordered signature pack. It is immutable.
type Pack struct {
	sigs     []*sig
	disabled []string
}

// Names lists the signature names in evaluation order.
func (p *Pack) Names() []string {
	out := make([]string, len(p.sigs))
	for i, s := range p.sigs {
		out[i] = s.Name
	}
	return out
}

const defaultPackFile = "signatures.yaml (built in)"

var defaultPack = sync.OnceValues(func() (*Pack, error) {
	return ParsePack(defaultPackFile, defaultPackYAML)
})

// defaultNames are the built-in signatures' names, which a site pack's
// joins may name.
var defaultNames = sync.OnceValue(func() map[string]bool {
	var f packFile
	yamlfile.Decode(defaultPackFile, defaultPackYAML, &f)
	names := map[string]bool{}
	for _, s := range f.Signatures {
		names[s.Name] = true
	}
	return names
})

// DefaultPack is the built-in signature pack (internal/kernel/signatures.yaml).
func DefaultPack() *Pack {
	p, err := defaultPack()
	if err != nil {
		panic(err) // TestDefaultPack keeps the embedded file valid
	}
	return p
}

// LoadPackFile reads a pack file.
func LoadPackFile(path string) (*Pack, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read signature pack: %w", err)
	}
	return ParsePack(path, b)
}

// Extend returns a pack with extra's signatures first, in their order,
// then this pack's, minus those that extra replaces (same name) or
// disables.
func (p *Pack) Extend(extra *Pack) *Pack {
	drop := map[string]bool{}
	for _, s := range extra.sigs {
		drop[s.Name] = true
	}
	for _, n := range extra.disabled {
		drop[n] = true
	}
	out := &Pack{sigs: slices.Clone(extra.sigs)}
	for _, s := range p.sigs {
		if !drop[s.Name] {
			out.sigs = append(out.sigs, s)
		}
	}
	return out
}

type packFile struct {
	Signatures []Signature `yaml:"signatures"`
}

// ParsePack decodes and compiles a pack strictly: unknown fields, bad
// regexps, unknown types, roles or capture names are errors naming
// file:line, all of them at once.
func ParsePack(file string, b []byte) (*Pack, error) {
	var f packFile
	root, probs := yamlfile.Decode(file, b, &f)
	if len(probs) > 0 {
		return nil, probs
	}
	items := yamlfile.Items(root, "signatures")
	p := &Pack{}
	var errs []error
	seen := map[string]string{}
	known := map[string]bool{}
	for _, s := range f.Signatures {
		known[s.Name] = true
	}
	for n := range defaultNames() {
		known[n] = true
	}
	for i, s := range f.Signatures {
		pos := fmt.Sprintf("%s:%d", file, 1)
		if i < len(items) {
			pos = fmt.Sprintf("%s:%d", file, items[i].Line)
		}
		if prev, ok := seen[s.Name]; ok && s.Name != "" {
			errs = append(errs, fmt.Errorf("%s: signature %q: duplicate name (first at %s)", pos, s.Name, prev))
			continue
		}
		seen[s.Name] = pos
		if s.Disabled {
			if s.Name == "" {
				errs = append(errs, fmt.Errorf("%s: name: required", pos))
			}
			p.disabled = append(p.disabled, s.Name)
			continue
		}
		cs, err := compileSig(s, pos, known)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		p.sigs = append(p.sigs, cs)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

var validName = regexp.MustCompile(`^[a-z0-9][a-z0-9_.-]*$`)

func compileSig(s Signature, pos string, known map[string]bool) (*sig, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: signature %q: %s: %s", pos, s.Name, field, fmt.Sprintf(format, args...)))
	}
	if !validName.MatchString(s.Name) {
		bad("name", "want lower-case letters, digits, '-', '_' or '.'")
	}
	if s.Report == "" {
		s.Report = RoleLine
	}
	switch s.Report {
	case RoleLine, RoleStart:
		if s.Type == "" {
			bad("type", "required for report: %s", s.Report)
		}
	case RoleOpen, RoleField:
		if s.Type != "" {
			bad("type", "must be empty for report: %s", s.Report)
		}
	case RoleEnd:
	default:
		bad("report", "%q: want line, start, open, end or field", s.Report)
	}
	if s.Type != "" && !slices.Contains(kernelTypes, s.Type) {
		bad("type", "%q: want one of %s", s.Type, strings.Join(kernelTypes, ", "))
	}
	if s.Rollup && s.Report != RoleLine {
		bad("rollup", "only line signatures roll up")
	}
	cs := &sig{Signature: s, pos: pos, joins: s.Joins}
	for _, j := range s.Joins {
		if j != joinWarning && j != joinAny && !slices.Contains(kernelTypes, j) && !known[j] {
			bad("joins", "%q: want warning, *, a kernel event type or a signature name", j)
		}
	}
	if s.Report == RoleField && len(cs.joins) == 0 {
		cs.joins = []string{joinAny}
	}
	if s.Regexp != "" {
		re, err := regexp.Compile(s.Regexp)
		if err != nil {
			bad("regexp", "%v", err)
		} else {
			cs.re = re
			for g, name := range re.SubexpNames() {
				if name == "" {
					continue
				}
				f, ok := capNames[name]
				if !ok {
					bad("regexp", "unknown capture group %q (known: %s)", name, strings.Join(slices.Sorted(maps.Keys(capNames)), ", "))
					continue
				}
				cs.caps = append(cs.caps, capture{group: g, field: f})
			}
			if s.Contains == "" {
				cs.Contains = requiredLiteral(s.Regexp)
			}
		}
	}
	switch {
	case cs.Contains == "" && s.Regexp == "":
		bad("contains", "required (or a regexp)")
	case cs.Contains == "" && cs.re != nil:
		bad("contains", "the regexp has no literal to prefilter on; set contains")
	case cs.Contains != "" && len(cs.Contains) < 3:
		bad("contains", "%q: at least 3 bytes, or the prefilter matches everything", cs.Contains)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return cs, nil
}

// requiredLiteral returns the longest literal every match of expr contains,
// from the top-level concatenation; "" when there is none.
func requiredLiteral(expr string) string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	subs := []*syntax.Regexp{re}
	if re.Op == syntax.OpConcat {
		subs = re.Sub
	}
	best := ""
	for _, sub := range subs {
		if sub.Op == syntax.OpLiteral && sub.Flags&syntax.FoldCase == 0 {
			if lit := string(sub.Rune); len(lit) > len(best) {
				best = lit
			}
		}
	}
	return best
}

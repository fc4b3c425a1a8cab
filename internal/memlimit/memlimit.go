// Package memlimit sets the Go runtime's soft memory limit (GOMEMLIMIT)
// to a share of the process's cgroup memory limit. At the default GOGC the
// heap may grow to twice what is live before a collection; under an
// incident's burst that doubling can cross a container's limit, and the
// kernel kills the router exactly when it is needed. With a soft limit
// the runtime collects harder as the heap nears it instead. Prometheus 3
// does the same by default (--auto-gomemlimit).
//
// Under that limit a command may also collect less often (--gc-percent):
// the router's page latency tail at 1 000 events/s is mostly collections
// (docs/benchmarks.md). Only while the heap is small beside the limit,
// though (tune.go).
package memlimit

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"runtime/debug"
	"strconv"
	"strings"
	"time"
)

// DefaultRatio is the share of the cgroup limit given to the Go runtime:
// the rest is headroom for memory it does not manage and for a collection
// to finish while the heap still grows.
const DefaultRatio = 0.9

// unlimited is where cgroup v1 says "no limit" (a page-rounded
// MaxInt64); anything this large is no limit.
const unlimited = int64(1) << 62

// Cgroup reads the memory limit of this process's cgroup under root ("/"
// in production): the smallest limit of the cgroup and its ancestors, v2
// (memory.max) or v1 (memory.limit_in_bytes). 0 means none was found or
// none is set; where names the file the limit came from.
func Cgroup(root fs.FS) (limit int64, where string, err error) {
	f, err := fs.ReadFile(root, "proc/self/cgroup")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return 0, "", nil // not Linux, or no /proc
		}
		return 0, "", fmt.Errorf("memlimit: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(f))
	for sc.Scan() {
		// hierarchy-id:controllers:path; v2 is "0::/path".
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		var dir, file string
		switch {
		case parts[0] == "0" && parts[1] == "":
			dir, file = "sys/fs/cgroup", "memory.max"
		case hasController(parts[1], "memory"):
			dir, file = "sys/fs/cgroup/memory", "memory.limit_in_bytes"
		default:
			continue
		}
		l, w, err := smallest(root, dir, parts[2], file)
		if err != nil {
			return 0, "", err
		}
		if l > 0 && (limit == 0 || l < limit) {
			limit, where = l, w
		}
	}
	return limit, where, nil
}

func hasController(list, name string) bool {
	for c := range strings.SplitSeq(list, ",") {
		if c == name {
			return true
		}
	}
	return false
}

// smallest walks from the cgroup's directory up to the hierarchy's root
// and returns the smallest limit set. Inside a container with its own
// cgroup namespace the path may not exist under the mount: the mount's
// root is then the container's cgroup, which the walk reaches last.
func smallest(root fs.FS, mount, cgroup, file string) (int64, string, error) {
	var limit int64
	var where string
	for p := path.Clean("/" + cgroup); ; p = path.Dir(p) {
		name := path.Join(mount, p, file)
		b, err := fs.ReadFile(root, name)
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return 0, "", fmt.Errorf("memlimit: %w", err)
		default:
			v := strings.TrimSpace(string(b))
			if v != "max" {
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					return 0, "", fmt.Errorf("memlimit: /%s: %q is not a limit", name, v)
				}
				if n > 0 && n < unlimited && (limit == 0 || n < limit) {
					limit, where = n, "/"+name
				}
			}
		}
		if p == "/" {
			return limit, where, nil
		}
	}
}

// Flags are the --memory-limit-ratio and --gc-percent flags of a command.
type Flags struct {
	Ratio float64
	// GC is --gc-percent: "auto" or a GOGC percent; empty when the command
	// has no such flag (the runtime's GOGC stands).
	GC     string
	autoGC int
	envErr error
}

// Register adds --memory-limit-ratio (default $AFTERSHOCK_MEMORY_LIMIT_RATIO,
// else DefaultRatio).
func (f *Flags) Register(fs *flag.FlagSet) {
	def := DefaultRatio
	if v := os.Getenv("AFTERSHOCK_MEMORY_LIMIT_RATIO"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			f.envErr = fmt.Errorf("$AFTERSHOCK_MEMORY_LIMIT_RATIO=%q: not a number", v)
		}
		def = n
	}
	fs.Float64Var(&f.Ratio, "memory-limit-ratio", def, "set the Go heap's soft limit (GOMEMLIMIT) to this share of the cgroup memory limit, so the garbage collector works harder before the container is killed at its limit; 0 turns it off; an explicit $GOMEMLIMIT wins [$AFTERSHOCK_MEMORY_LIMIT_RATIO]")
}

// RegisterGC adds --gc-percent (default $AFTERSHOCK_GC_PERCENT, else
// "auto": auto under a soft memory limit, Go's 100 without one).
func (f *Flags) RegisterGC(fs *flag.FlagSet, auto int) {
	f.autoGC = auto
	fs.StringVar(&f.GC, "gc-percent", envOr("AFTERSHOCK_GC_PERCENT", "auto"), fmt.Sprintf("collect garbage when the heap has grown this many percent over what is live (GOGC); auto: under a soft memory limit, up to %d while the live heap is small beside it (fewer collections, a shorter latency tail), falling to Go's 100 as it grows to a quarter of the limit; without one, 100; an explicit $GOGC wins [$AFTERSHOCK_GC_PERCENT]", auto))
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// gcPercent is --gc-percent as a number: 0 for auto.
func (f Flags) gcPercent() (int, error) {
	if f.GC == "" || f.GC == "auto" {
		return 0, nil
	}
	n, err := strconv.Atoi(f.GC)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("--gc-percent %q: want auto or a percent of at least 1 (GOGC)", f.GC)
	}
	return n, nil
}

// Decision is what Apply did.
type Decision struct {
	// Limit is the soft limit set, 0 when none was.
	Limit int64
	// Cgroup is the cgroup limit it is a share of, From the file it was
	// read from.
	Cgroup int64
	From   string
	// Why says why no limit was set (Limit 0).
	Why string
	// GCPercent is the GOGC set, 0 when it was left alone (GCWhy says
	// why); with GCAuto, the most Tune sets as the live heap allows.
	GCPercent int
	GCAuto    bool
	GCWhy     string
}

// Check validates the flag.
func (f Flags) Check() error {
	if f.envErr != nil {
		return f.envErr
	}
	if !(f.Ratio >= 0 && f.Ratio <= 1) { // NaN too
		return fmt.Errorf("--memory-limit-ratio %v: want a share between 0 (off) and 1", f.Ratio)
	}
	_, err := f.gcPercent()
	return err
}

// Apply sets the soft memory limit as the flag asks, reading the cgroup
// under root (os.DirFS("/")), and logs what it did. With --gc-percent auto
// under a limit it tunes GOGC until ctx ends.
func (f Flags) Apply(ctx context.Context, root fs.FS, log *slog.Logger) (Decision, error) {
	d, err := f.decide(root, os.Getenv("GOMEMLIMIT"), os.Getenv("GOGC"))
	if err != nil {
		return d, err
	}
	if d.Limit > 0 {
		debug.SetMemoryLimit(d.Limit)
		log.Info("memory limit set", "gomemlimit_bytes", d.Limit, "cgroup_limit_bytes", d.Cgroup, "from", d.From, "ratio", f.Ratio)
	} else {
		log.Debug("no memory limit set", "why", d.Why)
	}
	switch {
	case d.GCPercent > 0 && d.GCAuto:
		go Tuner{Most: d.GCPercent, Every: time.Second, Log: log}.Run(ctx)
		log.Info("gc percent follows the live heap", "gogc_max", d.GCPercent, "flag", f.GC)
	case d.GCPercent > 0:
		debug.SetGCPercent(d.GCPercent)
		log.Info("gc percent set", "gogc", d.GCPercent, "flag", f.GC)
	case f.GC != "":
		log.Debug("gc percent left alone", "why", d.GCWhy)
	}
	return d, nil
}

func (f Flags) decide(root fs.FS, memEnv, gcEnv string) (Decision, error) {
	if err := f.Check(); err != nil {
		return Decision{}, err
	}
	d, err := f.limit(root, memEnv)
	if err != nil {
		return Decision{}, err
	}
	gc, _ := f.gcPercent()
	switch {
	case f.GC == "":
	case gcEnv != "":
		d.GCWhy = "GOGC=" + gcEnv + " is set"
	case gc > 0:
		d.GCPercent = gc
	// A limit from GOMEMLIMIT caps the heap as well as one set here.
	case d.Limit > 0 || memEnv != "" && memEnv != "off":
		d.GCPercent, d.GCAuto = f.autoGC, true
	default:
		d.GCWhy = "auto without a memory limit"
	}
	return d, nil
}

func (f Flags) limit(root fs.FS, env string) (Decision, error) {
	switch {
	case env != "":
		return Decision{Why: "GOMEMLIMIT=" + env + " is set"}, nil
	case f.Ratio == 0:
		return Decision{Why: "--memory-limit-ratio 0"}, nil
	}
	limit, from, err := Cgroup(root)
	if err != nil {
		return Decision{}, err
	}
	if limit == 0 {
		return Decision{Why: "no cgroup memory limit"}, nil
	}
	return Decision{Limit: int64(float64(limit) * f.Ratio), Cgroup: limit, From: from}, nil
}

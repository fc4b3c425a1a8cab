package memlimit

import (
	"flag"
	"strings"
	"testing"
	"testing/fstest"
)

func TestCgroup(t *testing.T) {
	const v1Unlimited = "9223372036854771712\n"
	tests := []struct {
		name  string
		files map[string]string
		limit int64
		where string
		err   string
	}{
		{
			name: "v2 container (own cgroup namespace)",
			files: map[string]string{
				"proc/self/cgroup":         "0::/\n",
				"sys/fs/cgroup/memory.max": "536870912\n",
			},
			limit: 512 << 20, where: "/sys/fs/cgroup/memory.max",
		},
		{
			name: "v2 systemd unit under a slice with a smaller limit",
			files: map[string]string{
				"proc/self/cgroup": "0::/system.slice/aftershock-router.service\n",
				"sys/fs/cgroup/system.slice/aftershock-router.service/memory.max": "1073741824\n",
				"sys/fs/cgroup/system.slice/memory.max":                           "268435456\n",
				"sys/fs/cgroup/memory.max":                                        "max\n",
			},
			limit: 256 << 20, where: "/sys/fs/cgroup/system.slice/memory.max",
		},
		{
			name: "v2 without a limit",
			files: map[string]string{
				"proc/self/cgroup":                    "0::/user.slice\n",
				"sys/fs/cgroup/user.slice/memory.max": "max\n",
			},
		},
		{
			name: "v1, the cgroup's path not under the mount (namespaced): the mount's root",
			files: map[string]string{
				"proc/self/cgroup":                           "5:devices:/\n4:memory:/kubepods/pod1/abc\n0::/\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes": "67108864\n",
			},
			limit: 64 << 20, where: "/sys/fs/cgroup/memory/memory.limit_in_bytes",
		},
		{
			name: "v1 unlimited",
			files: map[string]string{
				"proc/self/cgroup":                           "4:memory:/\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes": v1Unlimited,
			},
		},
		{
			name: "v1 with controllers joined",
			files: map[string]string{
				"proc/self/cgroup": "3:cpu,memory:/a\n",
				"sys/fs/cgroup/memory/a/memory.limit_in_bytes": "104857600\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes":   v1Unlimited,
			},
			limit: 100 << 20, where: "/sys/fs/cgroup/memory/a/memory.limit_in_bytes",
		},
		{
			name:  "no /proc (not Linux)",
			files: map[string]string{},
		},
		{
			name: "a limit that is not a number",
			files: map[string]string{
				"proc/self/cgroup":         "0::/\n",
				"sys/fs/cgroup/memory.max": "lots\n",
			},
			err: `/sys/fs/cgroup/memory.max: "lots" is not a limit`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := fstest.MapFS{}
			for name, data := range tt.files {
				root[name] = &fstest.MapFile{Data: []byte(data)}
			}
			limit, where, err := Cgroup(root)
			if endsInErr(t, err, tt.err) {
				return
			}
			if limit != tt.limit || where != tt.where {
				t.Errorf("Cgroup = %d from %q, want %d from %q", limit, where, tt.limit, tt.where)
			}
		})
	}
}

// limited is a cgroup v2 container with a 512 MiB limit.
var limited = fstest.MapFS{
	"proc/self/cgroup":         {Data: []byte("0::/\n")},
	"sys/fs/cgroup/memory.max": {Data: []byte("536870912\n")},
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name  string
		ratio float64
		env   string
		root  fstest.MapFS
		limit int64
		why   string
		err   string
	}{
		{name: "a share of the cgroup's limit", ratio: 0.9, root: limited, limit: 483183820},
		{name: "the whole limit", ratio: 1, root: limited, limit: 512 << 20},
		{name: "GOMEMLIMIT wins", ratio: 0.9, env: "300MiB", root: limited, why: "GOMEMLIMIT=300MiB is set"},
		{name: "off", ratio: 0, root: limited, why: "--memory-limit-ratio 0"},
		{name: "no cgroup limit", ratio: 0.9, root: fstest.MapFS{}, why: "no cgroup memory limit"},
		{name: "more than the limit", ratio: 1.5, root: limited, err: "--memory-limit-ratio 1.5: want a share between 0 (off) and 1"},
		{name: "negative", ratio: -0.1, root: limited, err: "want a share between 0 (off) and 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Flags{Ratio: tt.ratio}.decide(tt.root, tt.env, "")
			if endsInErr(t, err, tt.err) {
				return
			}
			if d.Limit != tt.limit || d.Why != tt.why {
				t.Errorf("decide = %+v, want limit %d, why %q", d, tt.limit, tt.why)
			}
		})
	}
}

func TestDecideGC(t *testing.T) {
	tests := []struct {
		name          string
		gc            string
		ratio         float64
		memEnv, gcEnv string
		root          fstest.MapFS
		percent       int
		auto          bool
		why, err      string
	}{
		{name: "auto under the cgroup's limit", gc: "auto", ratio: 0.9, root: limited, percent: 400, auto: true},
		{name: "auto under GOMEMLIMIT", gc: "auto", ratio: 0.9, memEnv: "300MiB", root: fstest.MapFS{}, percent: 400, auto: true},
		{name: "auto without a limit", gc: "auto", ratio: 0.9, root: fstest.MapFS{}, why: "auto without a memory limit"},
		{name: "auto, limit turned off", gc: "auto", ratio: 0, root: limited, why: "auto without a memory limit"},
		{name: "auto, GOMEMLIMIT=off", gc: "auto", ratio: 0.9, memEnv: "off", root: limited, why: "auto without a memory limit"},
		{name: "a percent, with or without a limit", gc: "150", ratio: 0.9, root: fstest.MapFS{}, percent: 150},
		{name: "GOGC wins", gc: "150", ratio: 0.9, gcEnv: "50", root: limited, why: "GOGC=50 is set"},
		{name: "no such flag", gc: "", ratio: 0.9, root: limited},
		{name: "not a number", gc: "lots", ratio: 0.9, root: limited, err: `--gc-percent "lots": want auto or a percent of at least 1 (GOGC)`},
		{name: "zero", gc: "0", ratio: 0.9, root: limited, err: `--gc-percent "0": want auto or a percent`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Flags{Ratio: tt.ratio, GC: tt.gc, autoGC: 400}
			d, err := f.decide(tt.root, tt.memEnv, tt.gcEnv)
			if endsInErr(t, err, tt.err) {
				return
			}
			if d.GCPercent != tt.percent || d.GCAuto != tt.auto || d.GCWhy != tt.why {
				t.Errorf("decide = %+v, want GOGC %d (tuned: %v), why %q", d, tt.percent, tt.auto, tt.why)
			}
		})
	}
}

func TestRegisterFromEnvironment(t *testing.T) {
	for _, tt := range []struct {
		env   string
		ratio float64
		err   string
	}{
		{env: "", ratio: DefaultRatio},
		{env: "0.5", ratio: 0.5},
		{env: "half", err: `$AFTERSHOCK_MEMORY_LIMIT_RATIO="half": not a number`},
	} {
		t.Setenv("AFTERSHOCK_MEMORY_LIMIT_RATIO", tt.env)
		var f Flags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		f.Register(fs)
		if err := fs.Parse(nil); err != nil {
			t.Fatal(err)
		}
		err := f.Check()
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("env %q: err = %v, want %q", tt.env, err, tt.err)
			}
			continue
		}
		if err != nil || f.Ratio != tt.ratio {
			t.Errorf("env %q: ratio %v, err %v; want %v", tt.env, f.Ratio, err, tt.ratio)
		}
	}
}

func TestRegisterGC(t *testing.T) {
	for _, tt := range []struct {
		env, args, want string
		err             string
	}{
		{want: "auto"},
		{env: "200", want: "200"},
		{env: "200", args: "300", want: "300"},
		{env: "many", want: "many", err: `--gc-percent "many": want auto or a percent of at least 1 (GOGC)`},
	} {
		t.Setenv("AFTERSHOCK_GC_PERCENT", tt.env)
		var f Flags
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		f.Register(fs)
		f.RegisterGC(fs, 400)
		var args []string
		if tt.args != "" {
			args = []string{"--gc-percent", tt.args}
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		err := f.Check()
		if f.GC != tt.want || (err == nil) != (tt.err == "") || err != nil && err.Error() != tt.err {
			t.Errorf("env %q args %q: GC %q err %v; want %q err %q", tt.env, tt.args, f.GC, err, tt.want, tt.err)
		}
	}
}

// endsInErr fails t unless err is the one wanted (containing want; ""
// for none) and reports whether the case ends there (one was wanted).
func endsInErr(t *testing.T, err error, want string) bool {
	t.Helper()
	if want != "" {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("err = %v, want %q", err, want)
		}
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}

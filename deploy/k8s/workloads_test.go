package k8s_test

import (
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// hostPaths the collector's sources read (issues #3 and #4), beyond those
// its code names as literals. Each must be mounted read-only.
var hostPaths = []string{
	"/dev/kmsg",
	"/proc", "/proc/sys/kernel/random/boot_id", "/proc/uptime",
	"/sys", "/sys/fs/pstore",
	"/etc/os-release", "/etc/resolv.conf",
	"/var/crash",
	"/var/log/journal", "/run/log/journal", "/var/log/kern.log",
	"/var/log/pods", "/var/log/containers",
}

// notMounted are literal paths deliberately left out, with why.
var notMounted = map[string]string{
	"/usr/lib/os-release":      "fallback of /etc/os-release, which is mounted (hostPath follows its symlink)",
	"/run/nologin":             "exists only while the host shuts down; a hostPath to a missing file would create it (as a directory) and stop logins. /run/systemd/shutdown and the previous boot's journal or syslog tell a clean reboot instead",
	"/etc/localtime":           "optional: the syslog time zone is inferred from the current boot's first kern.log line when it is not readable",
	"/etc/kdump.conf":          "optional: only where kdump writes elsewhere than /var/crash; mount the file in an overlay",
	"/etc/default/kdump-tools": "optional: only where kdump writes elsewhere than /var/crash; mount the file in an overlay",
}

func daemonSet(t *testing.T, o *objects, name string) appsv1.DaemonSet {
	t.Helper()
	for _, d := range o.daemonSets {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no DaemonSet %s", name)
	return appsv1.DaemonSet{}
}

func deployment(t *testing.T, o *objects, name string) appsv1.Deployment {
	t.Helper()
	for _, d := range o.deployments {
		if d.Name == name {
			return d
		}
	}
	t.Fatalf("no Deployment %s", name)
	return appsv1.Deployment{}
}

func TestCollectorDaemonSet(t *testing.T) {
	bin := help(t, "./collector")
	for _, inst := range append([]string{"base"}, installations...) {
		t.Run(inst, func(t *testing.T) {
			o := render(t, inst)
			ds := daemonSet(t, o, "aftershock-collector")
			spec := ds.Spec.Template.Spec
			c := containerNamed(t, spec, "collector")
			checkFlagsAndEnv(t, "collector", c, bin)

			if !slices.ContainsFunc(spec.Tolerations, func(tl corev1.Toleration) bool {
				return tl.Key == "" && tl.Operator == corev1.TolerationOpExists && tl.Effect == ""
			}) {
				t.Error("collector does not tolerate every taint")
			}
			if node, _ := envValueFrom(c, "AFTERSHOCK_NODE"); node != "spec.nodeName" {
				t.Errorf("AFTERSHOCK_NODE from %q, want the downward API spec.nodeName", node)
			}
			if _, ok := envValueFrom(c, "AFTERSHOCK_CLUSTER"); !ok {
				t.Error("AFTERSHOCK_CLUSTER is not set")
			}
			sc := c.SecurityContext
			if sc == nil || sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) ||
				!slices.Equal(sc.Capabilities.Add, []corev1.Capability{"SYSLOG"}) {
				t.Errorf("collector capabilities %+v: want all dropped but SYSLOG", sc)
			}
			if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
				t.Error("collector root filesystem is writable")
			}
			// Only the kmsg-privileged component (in the example) may make it
			// privileged; the base must not.
			wantPriv := inst != "base"
			if (sc.Privileged != nil && *sc.Privileged) != wantPriv {
				t.Errorf("privileged = %v, want %v", sc.Privileged != nil && *sc.Privileged, wantPriv)
			}

			// Ports: the ops address's port is the declared, probed and
			// scraped one, and the binary's default.
			httpAddr, _ := envValue(c, "AFTERSHOCK_HTTP")
			port := portOf(t, httpAddr)
			if def := portOf(t, bin.defaults["http"]); port != def {
				t.Errorf("collector serves on %d, its default is %d", port, def)
			}
			checkPorts(t, "collector", ds.Spec.Template.Annotations, c, port)

			checkHostMounts(t, spec, c)
			checkIngestToken(t, o, c, httpAddr)
			if want := "aftershock/collector"; !strings.Contains(c.Image, want) {
				t.Errorf("collector image %q, want %s", c.Image, want)
			}
			nkey, _ := envValue(c, "AFTERSHOCK_NATS_NKEY")
			if !mountedFrom(spec, c, path.Dir(nkey), "aftershock-collector-nkeys") {
				t.Errorf("the nkey %s is not in the mounted Secret aftershock-collector-nkeys", nkey)
			}
			for _, s := range o.secrets {
				if s.Name != "aftershock-collector-nkeys" {
					continue
				}
				for _, n := range exampleNodes {
					if _, ok := s.Data[n+".nk"]; !ok {
						t.Errorf("collector Secret has no key for node %s", n)
					}
				}
			}
		})
	}
}

// checkIngestToken (issue #16): the collector serves ingest on the node's
// address, which every pod of the node reaches and NetworkPolicies do not
// cover, so its bearer token is required, not optional, and the example
// installation generates it.
func checkIngestToken(t *testing.T, o *objects, c corev1.Container, httpAddr string) {
	t.Helper()
	if !slices.Contains(c.Args, "--ingest") || !strings.HasPrefix(httpAddr, "$(HOST_IP)") {
		t.Fatalf("collector args %v on %s: the test expects ingest on the node's address", c.Args, httpAddr)
	}
	var ref *corev1.SecretKeySelector
	for _, e := range c.Env {
		if e.Name == "AFTERSHOCK_INGEST_TOKEN" && e.ValueFrom != nil {
			ref = e.ValueFrom.SecretKeyRef
		}
	}
	if ref == nil || (ref.Optional != nil && *ref.Optional) {
		t.Fatalf("AFTERSHOCK_INGEST_TOKEN %+v: want a required Secret key", ref)
	}
	if len(o.secrets) == 0 {
		return // the base names the Secret; installations provide it
	}
	for _, s := range o.secrets {
		if s.Name == ref.Name && len(s.Data[ref.Key]) >= 32 {
			return
		}
	}
	t.Errorf("no Secret %s with a token in %s", ref.Name, ref.Key)
}

// checkHostMounts: every host path is reached read-only, through
// --host-root or at its own path, and only the state dir is writable.
func checkHostMounts(t *testing.T, spec corev1.PodSpec, c corev1.Container) {
	t.Helper()
	root, _ := envValue(c, "AFTERSHOCK_HOST_ROOT")
	if root == "" {
		t.Fatal("AFTERSHOCK_HOST_ROOT is not set")
	}
	state, _ := envValue(c, "AFTERSHOCK_STATE_DIR")
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	// hostPath → where it appears in the container.
	type mount struct{ host, ctr string }
	var mounts []mount
	for _, m := range c.VolumeMounts {
		v := vols[m.Name]
		if v.HostPath == nil {
			continue
		}
		if m.MountPath == state {
			if m.ReadOnly {
				t.Error("the state dir is read-only")
			}
			continue
		}
		if !m.ReadOnly {
			t.Errorf("host path %s is mounted writable at %s", v.HostPath.Path, m.MountPath)
		}
		mounts = append(mounts, mount{v.HostPath.Path, m.MountPath})
	}
	if !slices.ContainsFunc(spec.Volumes, func(v corev1.Volume) bool {
		return v.HostPath != nil && slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.Name == v.Name && m.MountPath == state })
	}) {
		t.Errorf("state dir %s is not a hostPath", state)
	}
	need := map[string]string{}
	for _, p := range hostPaths {
		need[p] = "declared in this test"
	}
	for p, where := range hostPathLiterals(t) {
		need[p] = where
	}
	for p, where := range need {
		if why, ok := notMounted[p]; ok {
			t.Logf("%s not mounted: %s", p, why)
			continue
		}
		glob := strings.IndexAny(p, "*")
		if glob >= 0 {
			p = path.Dir(p[:glob+1])
		}
		covered := slices.ContainsFunc(mounts, func(m mount) bool {
			under := p == m.host || strings.HasPrefix(p, m.host+"/")
			return under && (m.ctr == path.Join(root, m.host) || m.ctr == m.host)
		})
		if !covered {
			t.Errorf("host path %s (%s) is not mounted at %s or its own path", p, where, path.Join(root, p))
		}
	}
}

func TestRouterDeployment(t *testing.T) {
	bin := help(t, "./router")
	for _, inst := range installations {
		t.Run(inst, func(t *testing.T) {
			o := render(t, inst)
			d := deployment(t, o, "aftershock-router")
			if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
				t.Errorf("router replicas %v, want at least 2", d.Spec.Replicas)
			}
			spec := d.Spec.Template.Spec
			c := containerNamed(t, spec, "router")
			checkFlagsAndEnv(t, "router", c, bin)
			httpAddr, _ := envValue(c, "AFTERSHOCK_HTTP")
			port := portOf(t, httpAddr)
			if def := portOf(t, bin.defaults["http"]); port != def {
				t.Errorf("router serves on %d, its default is %d", port, def)
			}
			checkPorts(t, "router", d.Spec.Template.Annotations, c, port)

			rules := argValue(c, "rules")
			if rules == "" {
				t.Fatal("router has no --rules")
			}
			if inst == "overlays/gitsync" {
				gs := containerNamed(t, spec, "git-sync")
				if !mountedFrom(spec, gs, "/git", "") || !strings.HasPrefix(rules, "/git/") {
					t.Errorf("git-sync and --rules=%s do not share /git", rules)
				}
				return
			}
			var cmName string
			for _, m := range c.VolumeMounts {
				for _, v := range spec.Volumes {
					if v.Name == m.Name && m.MountPath == rules && v.ConfigMap != nil {
						cmName = v.ConfigMap.Name
					}
				}
			}
			if cmName == "" {
				t.Fatalf("--rules=%s is not a mounted ConfigMap", rules)
			}
			for _, cm := range o.configMaps {
				if cm.Name != cmName {
					continue
				}
				for _, f := range ruleFiles(t) {
					if cm.Data[f] != string(moduleFile(t, "rules/"+f)) {
						t.Errorf("rules ConfigMap %s: %s differs from rules/%s (run task deploy:sync)", cmName, f, f)
					}
				}
				if len(cm.Data) != len(ruleFiles(t)) {
					t.Errorf("rules ConfigMap has %d files, rules/ has %d", len(cm.Data), len(ruleFiles(t)))
				}
			}
		})
	}
}

func TestNATSStatefulSet(t *testing.T) {
	o := render(t, "overlays/example")
	if len(o.statefulSets) != 1 {
		t.Fatalf("%d StatefulSets", len(o.statefulSets))
	}
	ss := o.statefulSets[0]
	if ss.Spec.Replicas == nil || *ss.Spec.Replicas != 3 || len(ss.Spec.VolumeClaimTemplates) == 0 {
		t.Error("NATS is not 3 servers with persistent volumes")
	}
	c := containerNamed(t, ss.Spec.Template.Spec, "nats")
	// The deployed server is the version the tests embed.
	mod := string(moduleFile(t, "go.mod"))
	ver := regexp.MustCompile(`github.com/nats-io/nats-server/v2 v(\S+)`).FindStringSubmatch(mod)
	if ver == nil || !strings.Contains(c.Image, ":"+ver[1]) {
		t.Errorf("NATS image %s, go.mod has nats-server %v", c.Image, ver)
	}
	// Every $VAR the config reads is set.
	conf := string(moduleFile(t, "deploy/nats/nats-server.conf"))
	for _, m := range regexp.MustCompile(`(?m)^[^#]*\$([A-Z_]+)`).FindAllStringSubmatch(conf, -1) {
		if _, ok := envValue(c, m[1]); !ok {
			if _, ok := envValueFrom(c, m[1]); !ok {
				t.Errorf("nats-server.conf reads $%s; the StatefulSet does not set it", m[1])
			}
		}
	}
	routes, _ := envValue(c, "NATS_ROUTES")
	for i := range 3 {
		want := ss.Name + "-" + string(rune('0'+i)) + "." + ss.Spec.ServiceName + ":6222"
		if !strings.Contains(routes, want) {
			t.Errorf("NATS_ROUTES %s lacks %s", routes, want)
		}
	}
	if !mountedFrom(ss.Spec.Template.Spec, c, "/etc/nats", "aftershock-nats-auth") {
		t.Error("auth.conf is not next to nats-server.conf")
	}
}

// checkPorts: the container declares port as "http", probes it, and the
// scrape annotation names it.
func checkPorts(t *testing.T, name string, ann map[string]string, c corev1.Container, port int32) {
	t.Helper()
	if !slices.ContainsFunc(c.Ports, func(p corev1.ContainerPort) bool { return p.Name == "http" && p.ContainerPort == port }) {
		t.Errorf("%s: no container port http=%d", name, port)
	}
	if ann["prometheus.io/port"] != strconv.Itoa(int(port)) {
		t.Errorf("%s: scrape port %q, serves on %d", name, ann["prometheus.io/port"], port)
	}
	for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want || probe.HTTPGet.Port.StrVal != "http" {
			t.Errorf("%s: want a probe on %s at port http", name, want)
		}
	}
}

func argValue(c corev1.Container, flag string) string {
	for _, a := range c.Args {
		if v, ok := strings.CutPrefix(a, "--"+flag+"="); ok {
			return v
		}
	}
	return ""
}

func envValueFrom(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name != name || e.ValueFrom == nil {
			continue
		}
		if e.ValueFrom.FieldRef != nil {
			return e.ValueFrom.FieldRef.FieldPath, true
		}
		return "", true
	}
	return "", false
}

// mountedFrom reports whether dir is a mount of c whose volume uses the
// Secret named secret (directly or projected; "" accepts any volume).
func mountedFrom(spec corev1.PodSpec, c corev1.Container, dir, secret string) bool {
	for _, m := range c.VolumeMounts {
		if m.MountPath != dir {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name {
				continue
			}
			switch {
			case secret == "":
				return true
			case v.Secret != nil && generatedFrom(v.Secret.SecretName, secret):
				return true
			case v.Projected != nil:
				for _, s := range v.Projected.Sources {
					if s.Secret != nil && generatedFrom(s.Secret.Name, secret) {
						return true
					}
				}
			}
		}
	}
	return false
}

// generatedFrom reports whether name is base or base with kustomize's
// content-hash suffix.
func generatedFrom(name, base string) bool {
	rest, ok := strings.CutPrefix(name, base)
	return ok && (rest == "" || regexp.MustCompile(`^-[a-z0-9]{10}$`).MatchString(rest))
}

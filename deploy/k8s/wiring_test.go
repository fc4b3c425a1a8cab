package k8s_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// installations the tests render: the example, and the example with the
// git-sync component.
var installations = []string{"overlays/example", "overlays/gitsync"}

func TestRenderedObjects(t *testing.T) {
	for _, inst := range installations {
		t.Run(inst, func(t *testing.T) {
			o := render(t, inst)
			checkReferences(t, o)
			checkSelectors(t, o)
		})
	}
}

// checkReferences: every ConfigMap and Secret a pod names exists in the
// rendered output (with the key, when one is named), unless optional.
func checkReferences(t *testing.T, o *objects) {
	cms := map[string]map[string]bool{}
	for _, c := range o.configMaps {
		keys := map[string]bool{}
		for k := range c.Data {
			keys[k] = true
		}
		cms[c.Name] = keys
	}
	secrets := map[string]map[string]bool{}
	for _, s := range o.secrets {
		keys := map[string]bool{}
		for k := range s.Data {
			keys[k] = true
		}
		for k := range s.StringData {
			keys[k] = true
		}
		secrets[s.Name] = keys
	}
	check := func(where, kind, name, key string, optional *bool, have map[string]map[string]bool) {
		if optional != nil && *optional {
			return
		}
		keys, ok := have[name]
		if !ok {
			t.Errorf("%s: %s %q is not in the rendered output", where, kind, name)
			return
		}
		if key != "" && !keys[key] {
			t.Errorf("%s: %s %q has no key %q", where, kind, name, key)
		}
	}
	for _, pod := range podSpecs(o) {
		for _, v := range pod.spec.Volumes {
			where := pod.name + " volume " + v.Name
			switch {
			case v.ConfigMap != nil:
				check(where, "ConfigMap", v.ConfigMap.Name, "", v.ConfigMap.Optional, cms)
			case v.Secret != nil:
				for _, it := range v.Secret.Items {
					check(where, "Secret", v.Secret.SecretName, it.Key, v.Secret.Optional, secrets)
				}
				check(where, "Secret", v.Secret.SecretName, "", v.Secret.Optional, secrets)
			case v.Projected != nil:
				for _, src := range v.Projected.Sources {
					if src.ConfigMap != nil {
						check(where, "ConfigMap", src.ConfigMap.Name, "", src.ConfigMap.Optional, cms)
						for _, it := range src.ConfigMap.Items {
							check(where, "ConfigMap", src.ConfigMap.Name, it.Key, src.ConfigMap.Optional, cms)
						}
					}
					if src.Secret != nil {
						check(where, "Secret", src.Secret.Name, "", src.Secret.Optional, secrets)
						for _, it := range src.Secret.Items {
							check(where, "Secret", src.Secret.Name, it.Key, src.Secret.Optional, secrets)
						}
					}
				}
			}
		}
		for _, c := range pod.spec.Containers {
			where := pod.name + "/" + c.Name
			mounts := map[string]bool{}
			for _, m := range c.VolumeMounts {
				mounts[m.Name] = true
			}
			for _, v := range pod.spec.Volumes {
				delete(mounts, v.Name)
			}
			for m := range mounts {
				t.Errorf("%s mounts volume %q, which the pod does not have", where, m)
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if r := e.ValueFrom.ConfigMapKeyRef; r != nil {
					check(where+" env "+e.Name, "ConfigMap", r.Name, r.Key, r.Optional, cms)
				}
				if r := e.ValueFrom.SecretKeyRef; r != nil {
					check(where+" env "+e.Name, "Secret", r.Name, r.Key, r.Optional, secrets)
				}
			}
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil {
					check(where+" envFrom", "ConfigMap", e.ConfigMapRef.Name, "", e.ConfigMapRef.Optional, cms)
				}
				if e.SecretRef != nil {
					check(where+" envFrom", "Secret", e.SecretRef.Name, "", e.SecretRef.Optional, secrets)
				}
			}
		}
	}
}

// checkSelectors: every Service, PDB and NetworkPolicy selects some pods,
// and Service target ports name container ports.
func checkSelectors(t *testing.T, o *objects) {
	pods := podSpecs(o)
	selects := func(sel labels.Selector) []pod {
		var out []pod
		for _, p := range pods {
			if sel.Matches(labels.Set(p.labels)) {
				out = append(out, p)
			}
		}
		return out
	}
	for _, s := range o.services {
		matched := selects(labels.SelectorFromSet(s.Spec.Selector))
		if len(matched) == 0 {
			t.Errorf("Service %s selects no pods", s.Name)
			continue
		}
		for _, p := range s.Spec.Ports {
			if p.TargetPort.StrVal == "" {
				continue
			}
			if !hasPortName(matched[0].spec, p.TargetPort.StrVal) {
				t.Errorf("Service %s targets port %q, not a port of %s", s.Name, p.TargetPort.StrVal, matched[0].name)
			}
		}
	}
	for _, p := range o.pdbs {
		sel := labels.SelectorFromSet(p.Spec.Selector.MatchLabels)
		if len(selects(sel)) == 0 {
			t.Errorf("PodDisruptionBudget %s selects no pods", p.Name)
		}
	}
	for _, n := range o.netpols {
		sel := labels.SelectorFromSet(n.Spec.PodSelector.MatchLabels)
		if len(selects(sel)) == 0 {
			t.Errorf("NetworkPolicy %s selects no pods", n.Name)
		}
	}
	for _, p := range pods {
		for _, c := range p.spec.Containers {
			for _, probe := range []*corev1.Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
				if probe != nil && probe.HTTPGet != nil && probe.HTTPGet.Port.StrVal != "" && !hasPortName(p.spec, probe.HTTPGet.Port.StrVal) {
					t.Errorf("%s/%s probes port %q, which it does not declare", p.name, c.Name, probe.HTTPGet.Port.StrVal)
				}
			}
		}
	}
}

type pod struct {
	name   string
	labels map[string]string
	spec   corev1.PodSpec
}

func podSpecs(o *objects) []pod {
	var out []pod
	for _, d := range o.deployments {
		out = append(out, pod{"Deployment " + d.Name, d.Spec.Template.Labels, d.Spec.Template.Spec})
	}
	for _, d := range o.daemonSets {
		out = append(out, pod{"DaemonSet " + d.Name, d.Spec.Template.Labels, d.Spec.Template.Spec})
	}
	for _, s := range o.statefulSets {
		spec := *s.Spec.Template.Spec.DeepCopy()
		for _, vct := range s.Spec.VolumeClaimTemplates {
			spec.Volumes = append(spec.Volumes, corev1.Volume{Name: vct.Name})
		}
		out = append(out, pod{"StatefulSet " + s.Name, s.Spec.Template.Labels, spec})
	}
	return out
}

func hasPortName(spec corev1.PodSpec, name string) bool {
	for _, c := range spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return true
			}
		}
	}
	return false
}

// checkFlagsAndEnv checks a container against its binary's --help: each
// argument is a flag it has, each AFTERSHOCK_* variable one it reads, every
// other variable is used by a $(VAR) reference, and references point at
// variables defined before them.
func checkFlagsAndEnv(t *testing.T, where string, c corev1.Container, bin binary) {
	t.Helper()
	for _, a := range append(slices.Clone(c.Command), c.Args...) {
		if !strings.HasPrefix(a, "-") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !bin.flags[name] {
			t.Errorf("%s: argument %q: the binary has no flag --%s", where, a, name)
		}
	}
	defined := map[string]bool{}
	used := map[string]bool{}
	ref := regexp.MustCompile(`\$\(([A-Za-z0-9_]+)\)`)
	for _, e := range c.Env {
		for _, m := range ref.FindAllStringSubmatch(e.Value, -1) {
			if !defined[m[1]] {
				t.Errorf("%s: %s refers to $(%s), not defined before it", where, e.Name, m[1])
			}
			used[m[1]] = true
		}
		defined[e.Name] = true
	}
	for _, e := range c.Env {
		switch {
		case strings.HasPrefix(e.Name, "AFTERSHOCK_"):
			if !bin.env[e.Name] {
				t.Errorf("%s: the binary does not read %s", where, e.Name)
			}
		case !used[e.Name]:
			t.Errorf("%s: variable %s is neither read by the binary nor referenced", where, e.Name)
		}
	}
}

func envValue(c corev1.Container, name string) (string, bool) {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value, true
		}
	}
	return "", false
}

// portOf returns the port of a "host:port" default or value.
func portOf(tb testing.TB, addr string) int32 {
	tb.Helper()
	i := strings.LastIndex(addr, ":")
	p, err := strconv.Atoi(addr[i+1:])
	if i < 0 || err != nil {
		tb.Fatalf("address %q has no port", addr)
	}
	return int32(p)
}

// hostPathLiterals scans the Go source of every package of this module that
// the collector links for string literals naming host paths, so a source
// that starts reading a new path fails this test until it is mounted.
func hostPathLiterals(t *testing.T) map[string]string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}} {{.Dir}}{{end}}", "../../collector").Output()
	if err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	hostDir := regexp.MustCompile(`^/(proc|sys|dev|var|etc|run|boot|usr)/[A-Za-z0-9_./*-]+$`)
	for line := range strings.Lines(string(out)) {
		pkg, dir, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || !strings.HasPrefix(pkg, "github.com/aftershock/aftershock/") {
			continue
		}
		fset := token.NewFileSet()
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			af, err := parser.ParseFile(fset, f, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			ast.Inspect(af, func(n ast.Node) bool {
				lit, ok := n.(*ast.BasicLit)
				if !ok || lit.Kind != token.STRING {
					return true
				}
				s, err := strconv.Unquote(lit.Value)
				if err == nil && hostDir.MatchString(s) {
					found[s] = fmt.Sprintf("%s (%s)", pkg, fset.Position(lit.Pos()))
				}
				return true
			})
		}
	}
	return found
}

// Package k8s_test renders the Kubernetes manifests with kustomize (the
// library kubectl embeds), decodes every object strictly into k8s.io/api
// types and checks the wiring against the real binaries, Dockerfiles and
// configs. The Kubernetes libraries are linked by this test only.
package k8s_test

import (
	"bytes"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/aftershock/aftershock/internal/bintest"
	"github.com/aftershock/aftershock/internal/natssec"
)

// The example cluster's nodes, for the generated collector Secret.
var exampleNodes = []string{"node-a", "ip-10-0-0-1.ec2.internal"}

// objects is one rendered installation, by kind.
type objects struct {
	namespaces   []corev1.Namespace
	services     []corev1.Service
	accounts     []corev1.ServiceAccount
	configMaps   []corev1.ConfigMap
	secrets      []corev1.Secret
	statefulSets []appsv1.StatefulSet
	daemonSets   []appsv1.DaemonSet
	deployments  []appsv1.Deployment
	pdbs         []policyv1.PodDisruptionBudget
	netpols      []networkingv1.NetworkPolicy
}

var (
	treeOnce sync.Once
	treeDir  string
	treeErr  error
)

// tree copies deploy/k8s into a temp dir and generates the example
// overlay's secrets there with gen-auth's code, as `task
// deploy:example-secrets` does; a "gitsync" overlay adds the git-sync
// component to the example.
func tree(tb testing.TB) string {
	tb.Helper()
	treeOnce.Do(func() {
		dir, err := os.MkdirTemp(bintest.Dir(tb), "k8s-")
		if err != nil {
			treeErr = err
			return
		}
		if treeErr = os.CopyFS(dir, os.DirFS(".")); treeErr != nil {
			return
		}
		treeErr = natssec.Generate(natssec.Plan{
			Dir:             filepath.Join(dir, "overlays", "example", "secrets", "nats"),
			Cluster:         "example",
			Nodes:           exampleNodes,
			TLSHosts:        []string{"*.aftershock-nats-headless", "aftershock-nats", "localhost"},
			CollectorSecret: true,
			IngestToken:     true,
		}, io.Discard)
		if treeErr != nil {
			return
		}
		gs := filepath.Join(dir, "overlays", "gitsync")
		if treeErr = os.MkdirAll(gs, 0o755); treeErr != nil {
			return
		}
		treeErr = os.WriteFile(filepath.Join(gs, "kustomization.yaml"), []byte(
			"apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: aftershock\nresources: [../example]\ncomponents: [../../components/rules-git-sync]\n"), 0o644)
		treeDir = dir
	})
	if treeErr != nil {
		tb.Fatalf("prepare manifests: %v", treeErr)
	}
	return treeDir
}

// render builds the kustomization at path (relative to deploy/k8s) and
// decodes every object strictly.
func render(tb testing.TB, path string) *objects {
	tb.Helper()
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(tree(tb), path))
	if err != nil {
		tb.Fatalf("kustomize build %s: %v", path, err)
	}
	out, err := rm.AsYaml()
	if err != nil {
		tb.Fatal(err)
	}
	o := &objects{}
	for _, doc := range bytes.Split(out, []byte("\n---\n")) {
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		var meta struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			tb.Fatalf("%s: %v", path, err)
		}
		var target any
		switch meta.Kind {
		case "Namespace":
			target = appendNew(&o.namespaces)
		case "Service":
			target = appendNew(&o.services)
		case "ServiceAccount":
			target = appendNew(&o.accounts)
		case "ConfigMap":
			target = appendNew(&o.configMaps)
		case "Secret":
			target = appendNew(&o.secrets)
		case "StatefulSet":
			target = appendNew(&o.statefulSets)
		case "DaemonSet":
			target = appendNew(&o.daemonSets)
		case "Deployment":
			target = appendNew(&o.deployments)
		case "PodDisruptionBudget":
			target = appendNew(&o.pdbs)
		case "NetworkPolicy":
			target = appendNew(&o.netpols)
		default:
			tb.Fatalf("%s: %s %s: kind not checked by this test", path, meta.Kind, meta.Metadata.Name)
		}
		if err := yaml.UnmarshalStrict(doc, target); err != nil {
			tb.Fatalf("%s: %s %s does not decode strictly: %v", path, meta.Kind, meta.Metadata.Name, err)
		}
	}
	return o
}

func appendNew[T any](s *[]T) *T {
	var zero T
	*s = append(*s, zero)
	return &(*s)[len(*s)-1]
}

// binary is what a command says about itself in --help: its flags, the
// environment variables it reads, and flag defaults.
type binary struct {
	flags    map[string]bool
	env      map[string]bool
	defaults map[string]string
}

var flagLine = regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)
var envRef = regexp.MustCompile(`\[\$([A-Z0-9_]+)\]`)
var defaultOf = regexp.MustCompile(`(?s)^  -([a-z0-9-]+)[^\n]*\n\s+[^\n]*\(default "?([^")]*)"?\)`)

// help runs the real binary's --help, so manifests are checked against the
// flags as they are on this commit, not as this test remembers them.
func help(tb testing.TB, pkg string) binary {
	tb.Helper()
	out, err := exec.Command(bintest.Build(tb, pkg), "--help").CombinedOutput()
	if err != nil {
		tb.Fatalf("%s --help: %v\n%s", pkg, err, out)
	}
	b := binary{flags: map[string]bool{}, env: map[string]bool{}, defaults: map[string]string{}}
	for _, m := range flagLine.FindAllStringSubmatch(string(out), -1) {
		b.flags[m[1]] = true
	}
	for _, m := range envRef.FindAllStringSubmatch(string(out), -1) {
		b.env[m[1]] = true
	}
	// Defaults: split into per-flag blocks first.
	blocks := regexp.MustCompile(`(?m)^  -`).Split(string(out), -1)
	for _, blk := range blocks[1:] {
		if m := defaultOf.FindStringSubmatch("  -" + blk); m != nil {
			b.defaults[m[1]] = m[2]
		}
	}
	if len(b.flags) < 5 || len(b.env) < 5 {
		tb.Fatalf("%s --help: parsed only %d flags and %d variables:\n%s", pkg, len(b.flags), len(b.env), out)
	}
	return b
}

// moduleFile reads a file by its path from the module root.
func moduleFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", path))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// ruleFiles lists rules/*.yaml as the sync tool copies them.
func ruleFiles(tb testing.TB) []string {
	tb.Helper()
	var names []string
	err := fs.WalkDir(os.DirFS("../../rules"), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != "." {
			return fs.SkipDir
		}
		if ext := filepath.Ext(p); !d.IsDir() && (ext == ".yaml" || ext == ".yml") {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return names
}

func containerNamed(tb testing.TB, spec corev1.PodSpec, name string) corev1.Container {
	tb.Helper()
	for _, c := range spec.Containers {
		if c.Name == name {
			return c
		}
	}
	tb.Fatalf("no container %q", name)
	return corev1.Container{}
}

package natssec_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/natssec"
)

func TestGenerateKeepsSeedsAndAddsNodes(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if err := natssec.Generate(natssec.Plan{Dir: dir, Cluster: "prod", Nodes: []string{"node-1", "ip-10-0-0-1.ec2.internal"}}, &out); err != nil {
		t.Fatal(err)
	}
	st := natssec.Store{Dir: dir}
	seed1, err := os.ReadFile(st.SeedPath(natssec.RoleCollector, "prod", "node-1"))
	if err != nil {
		t.Fatal(err)
	}
	router1, _ := os.ReadFile(st.SeedPath(natssec.RoleRouter, "", ""))
	if fi, _ := os.Stat(st.SeedPath(natssec.RoleRouter, "", "")); fi.Mode().Perm() != 0o600 {
		t.Errorf("seed mode %v, want 0600", fi.Mode().Perm())
	}

	out.Reset()
	if err := natssec.Generate(natssec.Plan{Dir: dir, Cluster: "staging", Nodes: []string{"node-1"}}, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "kept router") || !strings.Contains(out.String(), "created collector staging/node-1") {
		t.Fatalf("second run said:\n%s", out.String())
	}
	seed2, _ := os.ReadFile(st.SeedPath(natssec.RoleCollector, "prod", "node-1"))
	router2, _ := os.ReadFile(st.SeedPath(natssec.RoleRouter, "", ""))
	if !bytes.Equal(seed1, seed2) || !bytes.Equal(router1, router2) {
		t.Fatal("a rerun changed existing seeds")
	}
	users, err := st.Users()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name())
	}
	want := []string{"system", "router", "ingest", "operator", "collector prod/ip-10-0-0-1.ec2.internal", "collector prod/node-1", "collector staging/node-1"}
	if !slices.Equal(names, want) {
		t.Fatalf("users %v, want %v", names, want)
	}
	auth, err := os.ReadFile(filepath.Join(dir, natssec.AuthFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{`"events.prod.node-1.>"`, `"events.staging.node-1.>"`, `"events.prod.ip-10-0-0-1_ec2_internal.>"`, `"_INBOX.prod.ip-10-0-0-1_ec2_internal.>"`} {
		if !bytes.Contains(auth, []byte(subj)) {
			t.Errorf("auth.conf lacks %s", subj)
		}
	}
	if bytes.Contains(auth, seed1[:10]) {
		t.Fatal("auth.conf contains a seed")
	}
}

func TestGenerateRejects(t *testing.T) {
	tests := []struct {
		name string
		plan natssec.Plan
		want string
	}{
		{"no dir", natssec.Plan{}, "dir: required"},
		{"nodes without cluster", natssec.Plan{Nodes: []string{"a"}}, "cluster: required"},
		{"path in node", natssec.Plan{Cluster: "prod", Nodes: []string{"../../etc/x"}}, "must be names"},
		{"dot node", natssec.Plan{Cluster: "prod", Nodes: []string{".."}}, "must be names"},
		{"slash in cluster", natssec.Plan{Cluster: "a/b", Nodes: []string{"n"}}, "must be names"},
		{"tls without hosts is fine", natssec.Plan{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name != "no dir" {
				tt.plan.Dir = t.TempDir()
			}
			err := natssec.Generate(tt.plan, &bytes.Buffer{})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCorruptSeedNamed(t *testing.T) {
	dir := t.TempDir()
	if err := natssec.Generate(natssec.Plan{Dir: dir, Cluster: "prod", Nodes: []string{"n1"}}, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	bad := natssec.Store{Dir: dir}.SeedPath(natssec.RoleCollector, "prod", "n1")
	if err := os.WriteFile(bad, []byte("SUnot-a-seed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := natssec.Generate(natssec.Plan{Dir: dir}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("got %v, want an error naming %s", err, bad)
	}
}

func TestRenderAuthRefusesSharedKeys(t *testing.T) {
	u := natssec.User{Role: natssec.RoleRouter, PublicKey: "UABC"}
	v := natssec.User{Role: natssec.RoleOperator, PublicKey: "UABC"}
	if err := natssec.RenderAuth(&bytes.Buffer{}, []natssec.User{u, v}); err == nil || !strings.Contains(err.Error(), "share the key") {
		t.Fatalf("got %v", err)
	}
	if err := natssec.RenderAuth(&bytes.Buffer{}, nil); err == nil {
		t.Fatal("rendered no users")
	}
}

func TestReadNodes(t *testing.T) {
	got, err := natssec.ReadNodes(strings.NewReader("node/a\n\n  # comment\nb.c\n node/d \n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"a", "b.c", "d"}; !slices.Equal(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}

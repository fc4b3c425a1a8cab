package kernel

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kmsg"
)

func TestDefaultPack(t *testing.T) {
	p, err := ParsePack("signatures.yaml", defaultPackYAML)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.sigs) < 30 {
		t.Fatalf("default pack has %d signatures", len(p.sigs))
	}
	for _, typ := range kernelTypes {
		found := slices.ContainsFunc(p.sigs, func(s *sig) bool { return s.Type == typ })
		if !found {
			t.Errorf("no signature for %s", typ)
		}
	}
}

func TestParsePackErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []string // substrings of the error, each with file:line
	}{
		{"unknown field", "signatures:\n  - name: a\n    type: kernel.bug\n    contians: x\n",
			[]string{"p.yaml:4: field contians not found"}},
		{"bad regexp", "signatures:\n  - name: a\n    type: kernel.bug\n    regexp: 'kernel BUG at ('\n",
			[]string{"p.yaml:2: signature \"a\": regexp: error parsing regexp"}},
		{"unknown type and role", "signatures:\n  - name: ok\n    type: kernel.bug\n    contains: abc\n  - name: b\n    type: kernel.bugs\n    report: begin\n    contains: abc\n",
			[]string{`p.yaml:5: signature "b": report: "begin"`, `p.yaml:5: signature "b": type: "kernel.bugs"`}},
		{"unknown capture", "signatures:\n  - name: a\n    type: kernel.bug\n    regexp: 'BUG at (?P<where>.*)'\n",
			[]string{`p.yaml:2: signature "a": regexp: unknown capture group "where"`}},
		{"no literal", "signatures:\n  - name: a\n    type: kernel.bug\n    regexp: '(?:foo|bar)\\d+'\n",
			[]string{"p.yaml:2:", "no literal to prefilter on"}},
		{"short literal", "signatures:\n  - name: a\n    type: kernel.bug\n    contains: ab\n", []string{"at least 3 bytes"}},
		{"missing type", "signatures:\n  - name: a\n    contains: abc\n", []string{"type: required for report: line"}},
		{"type on field", "signatures:\n  - name: a\n    report: field\n    type: kernel.bug\n    contains: abc\n", []string{"must be empty for report: field"}},
		{"rollup on start", "signatures:\n  - name: a\n    report: start\n    type: kernel.bug\n    rollup: true\n    contains: abc\n", []string{"only line signatures roll up"}},
		{"bad join", "signatures:\n  - name: a\n    type: kernel.bug\n    joins: [warn]\n    contains: abc\n", []string{`joins: "warn"`, "or a signature name"}},
		{"join of an unknown signature", "signatures:\n  - name: a\n    report: field\n    joins: [no-such-signature]\n    contains: abc\n", []string{`:2: signature "a": joins: "no-such-signature"`}},
		{"bad name", "signatures:\n  - name: Big Name\n    type: kernel.bug\n    contains: abc\n", []string{"name: want lower-case"}},
		{"duplicate", "signatures:\n  - name: a\n    type: kernel.bug\n    contains: abc\n  - name: a\n    type: kernel.bug\n    contains: abc\n",
			[]string{`p.yaml:5: signature "a": duplicate name (first at p.yaml:2)`}},
		{"not yaml", "signatures: [\n", []string{"p.yaml:"}},
		{"wrong shape", "signatures: hello\n", []string{"p.yaml:1:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePack("p.yaml", []byte(tc.yaml))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestJoinsBySignature: a site pack may join reports begun by its own or
// built-in signatures, by name.
func TestJoinsBySignature(t *testing.T) {
	site, err := ParsePack("site.yaml", []byte(`signatures:
  - name: vendor-crash
    type: kernel.bug
    report: start
    contains: "VENDOR CRASH"
  - name: vendor-detail
    report: field
    joins: [vendor-crash, list-corruption]
    contains: "vendor detail"
    regexp: 'vendor detail comm=(?P<comm>\S+)'
`))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMatcher(DefaultPack().Extend(site), Options{})
	got := m.Scan([]kmsg.Line{
		{Mono: -1, Text: "VENDOR CRASH in module x"},
		{Mono: -1, Text: "vendor detail comm=etcd"},
		{Mono: -1, Text: "---[ end trace 0000000000000000 ]---"},
		{Mono: -1, Text: "list_del corruption, ffff8800b6bc1a40->next is LIST_POISON1 (dead000000000100)"},
		{Mono: -1, Text: "vendor detail comm=kubelet"},
	})
	if len(got) != 2 {
		t.Fatalf("got %d findings: %+v", len(got), got)
	}
	for i, comm := range []string{"etcd", "kubelet"} {
		if kr := got[i].Data.(*event.KernelReport); kr.Comm != comm || len(kr.Lines) != 2+1-i {
			t.Errorf("finding %d: comm %q, lines %q", i, kr.Comm, kr.Lines)
		}
	}
}

func TestLiteralFromRegexp(t *testing.T) {
	p, err := ParsePack("p.yaml", []byte("signatures:\n  - name: a\n    type: kernel.bug\n    regexp: '^foo (?P<device>\\S+) went away'\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.sigs[0].Contains; got != " went away" {
		t.Fatalf("derived literal %q", got)
	}
}

func TestExtendPack(t *testing.T) {
	extra := `signatures:
  - name: conntrack-full
    description: replaced by a site that also wants the old 3.x spelling
    type: kernel.conntrack_full
    rollup: true
    contains: "table full, dropping packet"
  - name: hard-lockup
    disabled: true
  - name: mce
    type: kernel.bug
    contains: "Machine check events logged"
`
	path := filepath.Join(t.TempDir(), "site.yaml")
	if err := os.WriteFile(path, []byte(extra), 0o600); err != nil {
		t.Fatal(err)
	}
	site, err := LoadPackFile(path)
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultPack().Extend(site)
	names := p.Names()
	if names[0] != "conntrack-full" || names[1] != "mce" {
		t.Fatalf("site signatures not first: %v", names[:3])
	}
	if slices.Contains(names, "hard-lockup") {
		t.Fatal("disabled signature still in the pack")
	}
	if n := len(slices.DeleteFunc(slices.Clone(names), func(s string) bool { return s != "conntrack-full" })); n != 1 {
		t.Fatalf("conntrack-full appears %d times", n)
	}
	m := NewMatcher(p, Options{})
	got := m.Scan([]kmsg.Line{
		{Mono: -1, Text: "mce: [Hardware Error]: Machine check events logged"},
		{Mono: -1, Text: "ip_conntrack: table full, dropping packet."},
		{Mono: -1, Text: "Watchdog detected hard LOCKUP on cpu 3"},
	})
	if len(got) != 2 || got[0].Type != event.TypeKernelBug || got[1].Type != event.TypeKernelConntrack {
		t.Fatalf("got %+v", got)
	}
	if _, err := LoadPackFile(filepath.Join(t.TempDir(), "missing.yaml")); err == nil {
		t.Fatal("missing file: no error")
	}
}

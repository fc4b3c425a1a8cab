package yamlfile

import (
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

type doc struct {
	Name  string `yaml:"name"`
	Items []item `yaml:"items"`
}

type item struct {
	Count int    `yaml:"count"`
	Every every  `yaml:"every"`
	Plain plain  `yaml:"plain"`
	Label string `yaml:"label"`
}

// every fails the way rule.Duration does: its error names the line.
type every time.Duration

func (e *every) UnmarshalYAML(n *yaml.Node) error {
	d, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*e = every(d)
	return nil
}

// plain fails without a line.
type plain string

func (p *plain) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "bad" {
		return errors.New("plain: bad value")
	}
	*p = plain(n.Value)
	return nil
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name  string
		yaml  string
		want  Problems
		items int // items located, when decoding succeeds
	}{
		{
			name:  "valid",
			yaml:  "name: a\nitems:\n  - count: 1\n  - every: 5s\n",
			items: 2,
		},
		{
			name: "unknown field",
			yaml: "name: a\nitems:\n  - count: 1\n    bogus: 2\n",
			want: Problems{{"f.yaml:4", "field bogus not found in type yamlfile.item"}},
		},
		{
			name: "type errors on several lines, all reported",
			yaml: "name: [1]\nitems:\n  - count: x\n  - label: {a: b}\n    other: 1\n",
			want: Problems{
				{"f.yaml:1", "cannot unmarshal !!seq into string"},
				{"f.yaml:3", "cannot unmarshal !!str `x` into int"},
				{"f.yaml:4", "cannot unmarshal !!map into string"},
				{"f.yaml:5", "field other not found in type yamlfile.item"},
			},
		},
		{
			name: "syntax error",
			yaml: "name: a\nitems:\n  - [\n",
			want: Problems{{"f.yaml:3", "did not find expected node content"}},
		},
		{
			name: "syntax error on the first line has no line from yaml: line 1",
			yaml: "name: a: b\n",
			want: Problems{{"f.yaml:1", "mapping values are not allowed in this context"}},
		},
		{
			name: "a byte that is not UTF-8",
			yaml: "name: \xff\n",
			want: Problems{{"f.yaml:1", "invalid leading UTF-8 octet"}},
		},
		{
			name: "custom unmarshaler error carrying its line",
			yaml: "items:\n  - count: 1\n  - every: 5x\n",
			want: Problems{{"f.yaml:3", `time: unknown unit "x" in duration "5x"`}},
		},
		{
			name: "custom unmarshaler error without a line",
			yaml: "items:\n  - plain: bad\n",
			want: Problems{{"f.yaml:1", "plain: bad value"}},
		},
		{
			name: "top level of the wrong kind",
			yaml: "- a\n- b\n",
			want: Problems{{"f.yaml:1", "cannot unmarshal !!seq into yamlfile.doc"}},
		},
		{name: "empty file", yaml: ""},
		{name: "only comments", yaml: "# nothing yet\n"},
		{name: "an empty document", yaml: "---\n"},
		{name: "a later document is not read", yaml: "name: a\n---\nbogus: [\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d doc
			root, ps := Decode("f.yaml", []byte(tt.yaml), &d)
			if !slices.Equal(ps, tt.want) {
				t.Fatalf("problems:\n got %q\nwant %q", ps, tt.want)
			}
			if len(tt.want) > 0 {
				if root != nil {
					t.Errorf("root = %v with problems, want nil", root)
				}
				return
			}
			if root == nil {
				t.Fatal("root is nil without problems")
			}
			items := Items(root, "items")
			if len(items) != tt.items || len(d.Items) != tt.items {
				t.Fatalf("located %d items, decoded %d, want %d", len(items), len(d.Items), tt.items)
			}
			for i, n := range items {
				if n.Line != 3+i {
					t.Errorf("item %d at line %d, want %d", i, n.Line, 3+i)
				}
			}
		})
	}
}

func TestDecodeLeavesValueOnEmptyFile(t *testing.T) {
	d := doc{Name: "kept"}
	if _, ps := Decode("f.yaml", nil, &d); ps != nil || d.Name != "kept" {
		t.Fatalf("problems %v, name %q; want none and the value untouched", ps, d.Name)
	}
}

func TestStrict(t *testing.T) {
	var d doc
	if _, err := Strict([]byte("# just a comment\n"), &d); !errors.Is(err, io.EOF) {
		t.Errorf("no document: err = %v, want io.EOF", err)
	}
	_, err := Strict([]byte("name: a\nbogus: 1\n"), &d)
	var te *yaml.TypeError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "line 2: field bogus not found") {
		t.Errorf("unknown field: err = %v, want a *yaml.TypeError naming line 2", err)
	}
	root, err := Strict([]byte("name: a\nitems:\n  - count: 1\n"), &d)
	if err != nil || d.Name != "a" || len(Items(root, "items")) != 1 {
		t.Errorf("valid: err = %v, name %q, tree %v", err, d.Name, root)
	}
}

func TestItems(t *testing.T) {
	parse := func(s string) *yaml.Node {
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(s), &n); err != nil {
			t.Fatal(err)
		}
		return &n
	}
	tests := []struct {
		name string
		root *yaml.Node
		key  string
		want []int // lines
	}{
		{"list in a document", parse("a: 1\nrules:\n  - x: 1\n\n  - x: 2\n"), "rules", []int{3, 5}},
		{"flow list", parse("rules: [a, b]\n"), "rules", []int{1, 1}},
		{"empty list", parse("rules: []\n"), "rules", nil},
		{"key missing", parse("other:\n  - a\n"), "rules", nil},
		{"key not a list", parse("rules: 3\n"), "rules", nil},
		{"key a mapping", parse("rules:\n  a: b\n"), "rules", nil},
		{"document not a mapping", parse("- rules\n"), "rules", nil},
		{"empty document", parse(""), "rules", nil},
		{"nil node", nil, "rules", nil},
		{"mapping node itself", parse("t:\n  events:\n    - a\n    - b\n").Content[0].Content[1], "events", []int{3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []int
			for _, n := range Items(tt.root, tt.key) {
				got = append(got, n.Line)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("lines = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProblemsError(t *testing.T) {
	ps := Problems{{"a.yaml:3", "first"}, {"a.yaml:9", "second"}}
	if got, want := ps.Error(), "a.yaml:3: first\na.yaml:9: second"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	var back Problems
	if err := fmt.Errorf("load: %w", ps); !errors.As(err, &back) || len(back) != 2 {
		t.Fatalf("errors.As through a wrap: %v", back)
	}
}

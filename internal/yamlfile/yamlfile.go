// Package yamlfile decodes YAML files strictly and locates what is wrong in
// them: unknown fields, type and syntax errors become file:line: message,
// one per problem, so an author fixes them all in one pass. Rule, routing,
// rule test, kernel signature and log pattern files all read this way.
package yamlfile

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one error located in a file.
type Problem struct {
	Pos string // file:line
	Msg string
}

func (p Problem) Error() string { return p.Pos + ": " + p.Msg }

// Problems collects every problem of a load so an author sees all at once.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.Error()
	}
	return strings.Join(lines, "\n")
}

// Strict decodes the first document of b into v, a field v does not have
// being an error, and returns the document's node tree too, for callers to
// locate what they check after decoding (see Items). A file with no
// document (empty, or only comments) gives io.EOF. Errors are yaml.v3's,
// unlocated: Decode is the one to use unless a caller formats them itself.
func Strict(b []byte, v any) (*yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(v); err != nil {
		return nil, err
	}
	// A second pass for the tree: yaml.Node.Decode cannot refuse unknown
	// fields. It parses what the first pass parsed, so it does not fail.
	var root yaml.Node
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, err
	}
	return &root, nil
}

// Decode decodes file's contents b strictly into v and returns its node
// tree; every problem carries file:line. A file with no document is no
// problem: v is left as it was and the tree is empty.
func Decode(file string, b []byte, v any) (*yaml.Node, Problems) {
	root, err := Strict(b, v)
	switch {
	case errors.Is(err, io.EOF):
		return &yaml.Node{}, nil
	case err != nil:
		return nil, locate(file, err)
	}
	return root, nil
}

// yamlLine finds the line yaml.v3 puts in a message. Messages without one
// (a syntax error it places at the very start, an undecodable byte) are
// put on line 1.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// locate splits a yaml.v3 error into its messages, each at its line.
func locate(file string, err error) Problems {
	msgs := []string{err.Error()}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	}
	var ps Problems
	for _, m := range msgs {
		m = strings.TrimPrefix(m, "yaml: ")
		if sm := yamlLine.FindStringSubmatch(m); sm != nil {
			ps = append(ps, Problem{file + ":" + sm[1], sm[2]})
			continue
		}
		ps = append(ps, Problem{file + ":1", m})
	}
	return ps
}

// Items returns the items of the list under key in mapping n (or in the
// mapping a document node holds), nil when there is no such list; each item
// carries its line.
func Items(n *yaml.Node, key string) []*yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.DocumentNode {
		if len(n.Content) == 0 {
			return nil
		}
		n = n.Content[0]
	}
	if n.Kind != yaml.MappingNode {
		return nil
	}
	for k := 0; k+1 < len(n.Content); k += 2 {
		if n.Content[k].Value == key {
			if v := n.Content[k+1]; v.Kind == yaml.SequenceNode {
				return v.Content
			}
			return nil
		}
	}
	return nil
}

package route

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"

	"github.com/aftershock/aftershock/internal/yamlfile"
)

// FileName is the routing file's name inside the rules directory
// (routing.yml is accepted too).
const FileName = "routing.yaml"

// Problem is one error located in the routing file.
type Problem = yamlfile.Problem

// Problems lists every problem of a load, so an author sees all at once.
type Problems = yamlfile.Problems

// Path returns the routing file of a rules directory, or "" when it has none.
func Path(dir string) (string, error) {
	for _, name := range []string{FileName, "routing.yml"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("routing file: %w", err)
		}
	}
	return "", nil
}

// Load reads and checks the routing file of a rules directory. Without one,
// every alert goes to the console as it arrives (Default). Errors are
// Problems naming file:line.
func Load(dir string) (*Routing, error) {
	p, err := Path(dir)
	if err != nil {
		return nil, err
	}
	if p == "" {
		return Default(), nil
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("read routing file: %w", err)
	}
	r, probs := Parse(p, b)
	if len(probs) > 0 {
		return nil, probs
	}
	return r, nil
}

// ReceiverNames returns the receivers a rule may name in its receivers
// list: those of dir's routing file (or the default console).
func ReceiverNames(dir string) ([]string, error) {
	r, err := Load(dir)
	if err != nil {
		return nil, err
	}
	return r.ReceiverNames(), nil
}

// Default routes every alert to the console at once, one alert per group.
func Default() *Routing {
	r, probs := Parse("(default routing)", []byte(`
route:
  receiver: console
  group_by: ["..."]
  group_wait: 0s
receivers:
  - name: console
    console: {}
`))
	if len(probs) > 0 {
		panic("default routing: " + probs.Error())
	}
	return r
}

// Parse decodes and checks one routing file.
func Parse(file string, b []byte) (*Routing, Problems) {
	var f File
	root, probs := yamlfile.Decode(file, b, &f)
	if len(probs) > 0 {
		return nil, probs
	}
	c := &checker{file: file, root: root}
	r := c.compile(&f)
	if len(c.probs) > 0 {
		return nil, c.probs
	}
	return r, nil
}

// checker collects problems, locating each by its path in the YAML tree.
type checker struct {
	file  string
	root  *yaml.Node
	probs Problems
}

// bad records a problem at path (map keys and sequence indexes).
func (c *checker) bad(path []any, format string, args ...any) {
	c.probs = append(c.probs, Problem{
		Pos: fmt.Sprintf("%s:%d", c.file, c.line(path)),
		Msg: fmt.Sprintf(format, args...),
	})
}

// line finds the line of the deepest node on path that exists.
func (c *checker) line(path []any) int {
	n := c.root
	if n == nil || n.Kind != yaml.DocumentNode || len(n.Content) == 0 {
		return 1
	}
	n = n.Content[0]
	line := n.Line
	for _, step := range path {
		var next *yaml.Node
		switch s := step.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == s {
						line = n.Content[i].Line
						next = n.Content[i+1]
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && s < len(n.Content) {
				next = n.Content[s]
				line = next.Line
			}
		}
		if next == nil {
			return line
		}
		n = next
	}
	return line
}

func with(path []any, more ...any) []any {
	return append(append([]any(nil), path...), more...)
}

package rule

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"go.yaml.in/yaml/v3"

	"github.com/aftershock/aftershock/internal/yamlfile"
)

// Problem is one error located in a rule file.
type Problem = yamlfile.Problem

// Problems collects every problem of a load so an author sees all at once.
type Problems = yamlfile.Problems

// IsRuleFile reports whether a path holds rules (not tests or routing).
func IsRuleFile(path string) bool {
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	stem := strings.TrimSuffix(base, ext)
	return !strings.HasSuffix(stem, "_test") && stem != "routing" && !strings.HasPrefix(base, ".")
}

// Pack is everything read from a rules directory.
type Pack struct {
	Rules  []Rule
	Tables map[string][]map[string]string
}

// ReadDir reads every rule file under dir (recursively, sorted), strictly:
// unknown fields, bad durations and duplicate names are problems.
func ReadDir(dir string) (*Pack, Problems, error) {
	files, err := RuleFiles(dir)
	if err != nil {
		return nil, nil, err
	}
	pack := &Pack{Tables: map[string][]map[string]string{}}
	var probs Problems
	tableAt := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, nil, fmt.Errorf("read rule file: %w", err)
		}
		file, ps := Parse(f, b)
		probs = append(probs, ps...)
		if file == nil {
			continue
		}
		pack.Rules = append(pack.Rules, file.Rules...)
		for _, name := range slices.Sorted(maps.Keys(file.Tables)) {
			if prev, ok := tableAt[name]; ok {
				probs = append(probs, Problem{Pos: f + ":1", Msg: fmt.Sprintf("duplicate table %q (first in %s)", name, prev)})
				continue
			}
			tableAt[name] = f
			pack.Tables[name] = file.Tables[name]
		}
	}
	seen := map[string]string{}
	for _, r := range pack.Rules {
		if prev, ok := seen[r.Name]; ok && r.Name != "" {
			probs = append(probs, Problem{Pos: r.Source.At("name"), Msg: fmt.Sprintf("duplicate rule name %q (first at %s)", r.Name, prev)})
			continue
		}
		seen[r.Name] = r.Source.At("name")
	}
	return pack, probs, nil
}

// RuleFiles lists the rule files under dir, sorted; hidden directories are
// skipped.
func RuleFiles(dir string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if !d.IsDir() && IsRuleFile(p) {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read rules dir %s: %w", dir, err)
	}
	slices.Sort(files)
	return files, nil
}

// Parse decodes one rule file. Decoding is strict; every problem carries
// file:line.
func Parse(file string, b []byte) (*File, Problems) {
	var f File
	root, probs := yamlfile.Decode(file, b, &f)
	if len(probs) > 0 {
		return nil, probs
	}
	items := yamlfile.Items(root, "rules")
	for i := range f.Rules {
		src := Source{File: file, Line: 1, Keys: map[string]int{}, Values: map[string]int{}}
		if i < len(items) {
			n := items[i]
			src.Line = n.Line
			for k := 0; k+1 < len(n.Content); k += 2 {
				key, val := n.Content[k], n.Content[k+1]
				src.Keys[key.Value] = key.Line
				src.Values[key.Value] = valueLine(val)
				if val.Kind == yaml.MappingNode { // values: and annotations: entries
					for j := 0; j+1 < len(val.Content); j += 2 {
						sub := key.Value + "." + val.Content[j].Value
						src.Keys[sub] = val.Content[j].Line
						src.Values[sub] = valueLine(val.Content[j+1])
					}
				}
			}
		}
		f.Rules[i].Source = src
	}
	return &f, nil
}

// valueLine is the file line of a scalar's first content line.
func valueLine(n *yaml.Node) int {
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Line + 1
	}
	return n.Line
}

// Version identifies the rules: the git commit of dir when it is a clean
// checkout, else a hash of the rule files' contents.
func Version(dir string) string {
	if out, err := exec.Command("git", "-C", dir, "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		commit := strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "-C", dir, "status", "--porcelain", "--", ".").Output(); err == nil {
			if len(bytes.TrimSpace(st)) == 0 {
				return "git:" + commit
			}
			return "git:" + commit + "+" + contentHash(dir)
		}
	}
	return "sha256:" + contentHash(dir)
}

func contentHash(dir string) string {
	h := sha256.New()
	var files []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && (strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			files = append(files, p)
		}
		return nil
	})
	slices.Sort(files)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		rel, _ := filepath.Rel(dir, f)
		h.Write([]byte(rel))
		h.Write([]byte{0})
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

var (
	envOnce sync.Once
	envVal  *Env
	envErr  error
)

// SharedEnv is the process's CEL environment, declared once.
func SharedEnv() (*Env, error) {
	envOnce.Do(func() { envVal, envErr = NewEnv() })
	return envVal, envErr
}

// LoadDir reads, checks and compiles the pack in dir and stamps its
// version. A pack with problems returns them all as Problems.
func LoadDir(dir string, opts CheckOptions) (*Set, error) {
	env, err := SharedEnv()
	if err != nil {
		return nil, err
	}
	pack, probs, err := ReadDir(dir)
	if err != nil {
		return nil, err
	}
	if len(probs) > 0 {
		return nil, probs
	}
	set, probs := Compile(env, pack, opts)
	if len(probs) > 0 {
		return nil, probs
	}
	set.Version = Version(dir)
	return set, nil
}

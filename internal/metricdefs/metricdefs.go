// Package metricdefs finds the Prometheus metrics this module defines by
// reading its Go source: every prometheus.*Opts literal and every
// prometheus.NewDesc call with a literal name. Tests use it to check the
// dashboards and alerting rules in deploy/ against the metrics that exist,
// and the metrics against Prometheus conventions (promlint), without
// running every code path that registers one.
package metricdefs

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Def is one metric definition.
type Def struct {
	Name string
	Help string
	// Type is counter, gauge, histogram or summary; for a NewDesc it is
	// inferred from the name (_total: counter, else gauge).
	Type string
	// Pos is file:line, relative to the scanned root.
	Pos string
}

var optsTypes = map[string]string{"CounterOpts": "counter", "GaugeOpts": "gauge", "HistogramOpts": "histogram", "SummaryOpts": "summary"}

// Scan reads the non-test Go files under root (skipping testdata and
// hidden directories) and returns the definitions whose names start with
// prefix, sorted by name.
func Scan(root, prefix string) ([]Def, error) {
	var defs []Def
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		rel, _ := filepath.Rel(root, path)
		ast.Inspect(f, func(n ast.Node) bool {
			var d Def
			switch x := n.(type) {
			case *ast.CompositeLit:
				sel, ok := x.Type.(*ast.SelectorExpr)
				if !ok || optsTypes[sel.Sel.Name] == "" {
					return true
				}
				d.Type = optsTypes[sel.Sel.Name]
				for _, el := range x.Elts {
					kv, ok := el.(*ast.KeyValueExpr)
					if !ok {
						continue
					}
					switch k, _ := kv.Key.(*ast.Ident); {
					case k == nil:
					case k.Name == "Name":
						d.Name, _ = literal(kv.Value)
					case k.Name == "Help":
						d.Help, _ = literal(kv.Value)
					}
				}
			case *ast.CallExpr:
				if id, ok := x.Fun.(*ast.Ident); ok && len(x.Args) >= 2 {
					// A local helper such as counter("name", "help").
					d.Name, _ = literal(x.Args[0])
					d.Help, _ = literal(x.Args[1])
					for _, typ := range optsTypes {
						if strings.Contains(strings.ToLower(id.Name), typ) {
							d.Type = typ
						}
					}
					if d.Type == "" {
						return true
					}
					break
				}
				sel, ok := x.Fun.(*ast.SelectorExpr)
				if !ok || sel.Sel.Name != "NewDesc" || len(x.Args) < 2 {
					return true
				}
				d.Name, _ = literal(x.Args[0])
				d.Help, _ = literal(x.Args[1])
				d.Type = "gauge"
				if strings.HasSuffix(d.Name, "_total") {
					d.Type = "counter"
				}
			default:
				return true
			}
			if strings.HasPrefix(d.Name, prefix) {
				d.Pos = fmt.Sprintf("%s:%d", rel, fset.Position(n.Pos()).Line)
				defs = append(defs, d)
			}
			return true
		})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(defs, func(a, b Def) int { return strings.Compare(a.Name, b.Name) })
	return defs, nil
}

// literal evaluates a string literal or a + concatenation of them.
func literal(e ast.Expr) (string, bool) {
	switch x := e.(type) {
	case *ast.BasicLit:
		if x.Kind != token.STRING {
			return "", false
		}
		s, err := strconv.Unquote(x.Value)
		return s, err == nil
	case *ast.BinaryExpr:
		if x.Op != token.ADD {
			return "", false
		}
		a, ok1 := literal(x.X)
		b, ok2 := literal(x.Y)
		return a + b, ok1 && ok2
	case *ast.ParenExpr:
		return literal(x.X)
	}
	return "", false
}

// Series are the names a metric's samples have in Prometheus: a histogram
// has _bucket, _sum and _count, a summary _sum and _count besides itself.
func (d Def) Series() []string {
	switch d.Type {
	case "histogram":
		return []string{d.Name + "_bucket", d.Name + "_sum", d.Name + "_count"}
	case "summary":
		return []string{d.Name, d.Name + "_sum", d.Name + "_count"}
	}
	return []string{d.Name}
}

package rule

import (
	"text/template"
	"text/template/parse"
)

// TemplateKeys are the top-level keys of an alert's template data (events,
// window, event, ...) that a rule's templates may read. The engine builds
// only those: turning every event of a sample into a map for templates
// that name none of them was a tenth of what an alert storm allocated.
type TemplateKeys struct {
	// All: a template may read the data as a whole (a bare `.` or `$`
	// where the dot is the data, or {{template}}), so every key is built.
	All  bool
	keys map[string]bool
}

// Reads reports whether a template may read key.
func (k TemplateKeys) Reads(key string) bool { return k.All || k.keys[key] }

// templatesAll lists every template of c.
func (c *Compiled) templatesAll() []*template.Template {
	ts := []*template.Template{c.Summary, c.Details, c.TitleTemplate}
	for _, t := range c.Annotated {
		ts = append(ts, t)
	}
	for _, t := range c.LabelTemplates {
		ts = append(ts, t)
	}
	for _, s := range c.SignificantValues {
		ts = append(ts, s.Note)
	}
	return ts
}

// templateKeys walks the templates' parse trees. Where it cannot tell, it
// answers All: a key built for nothing costs time, a key left out changes
// the page.
func templateKeys(ts ...*template.Template) TemplateKeys {
	w := keyWalk{keys: map[string]bool{}}
	for _, t := range ts {
		if t != nil && t.Tree != nil {
			w.node(t.Tree.Root, true)
		}
	}
	return TemplateKeys{All: w.all, keys: w.keys}
}

type keyWalk struct {
	all  bool
	keys map[string]bool
}

// node notes what n reads; root says whether the dot is still the data
// (it is not inside range and with).
func (w *keyWalk) node(n parse.Node, root bool) {
	switch n := n.(type) {
	case nil:
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			w.node(c, root)
		}
	case *parse.ActionNode:
		w.node(n.Pipe, root)
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, c := range n.Cmds {
			w.node(c, root)
		}
	case *parse.CommandNode:
		for _, a := range n.Args {
			w.node(a, root)
		}
	case *parse.IfNode:
		w.branch(&n.BranchNode, root, root)
	case *parse.RangeNode:
		w.branch(&n.BranchNode, root, false)
	case *parse.WithNode:
		w.branch(&n.BranchNode, root, false)
	case *parse.FieldNode:
		if root {
			w.keys[n.Ident[0]] = true
		}
	case *parse.ChainNode:
		w.node(n.Node, root)
	case *parse.VariableNode:
		// $ is the data wherever it appears.
		if n.Ident[0] == "$" {
			if len(n.Ident) > 1 {
				w.keys[n.Ident[1]] = true
			} else {
				w.all = true
			}
		}
	case *parse.DotNode:
		if root {
			w.all = true
		}
	case *parse.TextNode, *parse.CommentNode, *parse.BoolNode, *parse.NumberNode, *parse.StringNode,
		*parse.NilNode, *parse.IdentifierNode, *parse.BreakNode, *parse.ContinueNode:
	default: // {{template}}, and any node a later Go adds
		w.all = true
	}
}

// branch walks an if, range or with: its pipeline sees the outer dot, its
// body the dot it sets (inner), its else the outer dot again.
func (w *keyWalk) branch(b *parse.BranchNode, root, inner bool) {
	w.node(b.Pipe, root)
	w.node(b.List, inner)
	w.node(b.ElseList, root)
}

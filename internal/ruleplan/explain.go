package ruleplan

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// Explain prints the plan: per rule what is evaluated for which event
// types and the test it is filed under, per event type how its rules are
// selected, and the leaves and attributes shared between rules.
func (p *Plan) Explain(w io.Writer) {
	shared := 0
	for _, l := range p.leaves {
		if l.rules > 1 {
			shared++
		}
	}
	fmt.Fprintf(w, "plan of %d rules: %d distinct tests (%d shared by several rules), %d event attributes read once per event\n",
		len(p.rules), len(p.leaves), shared, len(p.slots))

	var named []string
	open := false
	for _, ri := range p.rules {
		named = append(named, ri.c.Types.Types...)
		open = open || ri.c.Types.All || len(ri.c.Types.Prefixes) > 0
	}
	slices.Sort(named)
	named = slices.Compact(named)

	fmt.Fprintf(w, "\nrules (type index, then what is evaluated for each type):\n")
	for i, ri := range p.rules {
		fmt.Fprintf(w, "  %s [%s]", ri.c.Name, typeSetString(ri))
		switch {
		case ri.whole:
			fmt.Fprintf(w, ": its own program (%s)\n", ri.why)
			continue
		case !ri.typed:
			fmt.Fprintf(w, ": %s%s\n", ri.form, keyNote(ri.form))
			continue
		}
		fmt.Fprintln(w, ":")
		byForm := map[string][]string{}
		var order []string
		for _, t := range named {
			if !ri.c.Types.Accepts(t) {
				continue
			}
			f := p.ForType(t).form(i)
			s := f.String() + keyNote(f)
			if byForm[s] == nil {
				order = append(order, s)
			}
			byForm[s] = append(byForm[s], t)
		}
		for _, s := range order {
			fmt.Fprintf(w, "      %s: %s\n", strings.Join(byForm[s], ", "), s)
		}
		if len(ri.c.Types.Prefixes) > 0 || ri.c.Types.All {
			fmt.Fprintf(w, "      other types: %s (folded per type when first seen)\n", ri.form)
		}
	}

	fmt.Fprintf(w, "\nevent types (rules the type index accepts; how an event picks the ones to evaluate):\n")
	for _, t := range named {
		tp := p.ForType(t)
		fmt.Fprintf(w, "  %s: %d rules, %d may match", t, len(tp.rules), tp.live)
		if len(tp.always) > 0 {
			fmt.Fprintf(w, "; %d evaluated on every event", len(tp.always))
		}
		fmt.Fprintln(w)
		for _, ki := range tp.keys {
			if ki.eq != nil {
				fmt.Fprintf(w, "      %s: hash of %d values over %d rules\n", ki.slot.text, len(ki.eq), len(ki.eqAll))
			}
			for _, rt := range ki.ranges {
				fmt.Fprintf(w, "      %s %s K: sorted table of %d constants (%v … %v)\n", ki.slot.text, testSymbol[rt.test], len(rt.ks), rt.ks[0], rt.ks[len(rt.ks)-1])
			}
		}
	}
	if open {
		fmt.Fprintf(w, "  other types: planned the same way when first seen (rules with type prefixes or no type test)\n")
	}

	if shared > 0 {
		fmt.Fprintf(w, "\nshared tests (evaluated at most once per event):\n")
		for _, l := range p.leaves {
			if l.rules > 1 {
				fmt.Fprintf(w, "  %s: %d rules\n", l.text, l.rules)
			}
		}
	}
	if len(p.slots) > 0 {
		fmt.Fprintf(w, "\nattributes (read once per event):\n")
		for _, s := range p.slots {
			how := "the envelope"
			if s.field == "" {
				how = "a program"
			}
			fmt.Fprintf(w, "  %s: %d tests, read from %s\n", s.text, s.leaves, how)
		}
	}
}

var testSymbol = map[test]string{testEq: "==", testNe: "!=", testLt: "<", testLe: "<=", testGt: ">", testGe: ">=", testIn: "in"}

func typeSetString(ri ruleInfo) string {
	ts := ri.c.Types
	if ts.All {
		return "any type"
	}
	parts := slices.Clone(ts.Types)
	for _, p := range ts.Prefixes {
		parts = append(parts, p+"*")
	}
	return strings.Join(parts, ", ")
}

// keyNote says which test a rule is filed under, if any.
func keyNote(form *node) string {
	switch form.op {
	case opFalse:
		return " (never matches this type)"
	case opTrue:
		return " (decided by the type index)"
	}
	k := keyOf(form)
	if k == nil {
		return "  [evaluated on every event of the type]"
	}
	kind := "sorted table"
	if k.test == testEq || k.test == testIn {
		kind = "hash"
	}
	return fmt.Sprintf("  [filed under %s: %s]", kind, k.text)
}

// Package inhibit mutes alerts explained by another firing alert: while a
// source alert fires (say, a node crash), target alerts (the DNS and RPC
// timeouts it causes) with the same values of the rule's equal labels are
// not notified.
package inhibit

import (
	"strings"

	"github.com/aftershock/aftershock/internal/route"
)

// Inhibitor tracks the firing alerts that match a rule's source side. It is
// not safe for concurrent use: the dispatcher's loop owns it.
type Inhibitor struct {
	rules []rule
}

type rule struct {
	route.InhibitRule
	// sources maps the equal-label key to the fingerprints of firing
	// source alerts with it.
	sources map[string]map[string]bool
	// keyOf remembers each source's key so Remove needs no labels.
	keyOf map[string]string
}

// New returns an inhibitor for rules.
func New(rules []route.InhibitRule) *Inhibitor {
	in := &Inhibitor{}
	for _, r := range rules {
		in.rules = append(in.rules, rule{InhibitRule: r, sources: map[string]map[string]bool{}, keyOf: map[string]string{}})
	}
	return in
}

// Set records a firing alert (fingerprint fp, its routing labels, and its
// timeline: drills only inhibit drills).
func (in *Inhibitor) Set(fp string, labels map[string]string, drill bool) {
	for i := range in.rules {
		r := &in.rules[i]
		in.remove(r, fp)
		if !r.Source.Matches(labels) {
			continue
		}
		k := key(r.Equal, labels, drill)
		if r.sources[k] == nil {
			r.sources[k] = map[string]bool{}
		}
		r.sources[k][fp] = true
		r.keyOf[fp] = k
	}
}

// Remove forgets an alert that resolved.
func (in *Inhibitor) Remove(fp string) {
	for i := range in.rules {
		in.remove(&in.rules[i], fp)
	}
}

func (in *Inhibitor) remove(r *rule, fp string) {
	k, ok := r.keyOf[fp]
	if !ok {
		return
	}
	delete(r.keyOf, fp)
	delete(r.sources[k], fp)
	if len(r.sources[k]) == 0 {
		delete(r.sources, k)
	}
}

// Inhibited reports whether an alert is muted, and by which rule (its
// index in the routing file). An alert never inhibits itself.
func (in *Inhibitor) Inhibited(fp string, labels map[string]string, drill bool) (bool, int) {
	for i := range in.rules {
		r := &in.rules[i]
		if !r.Target.Matches(labels) {
			continue
		}
		for src := range r.sources[key(r.Equal, labels, drill)] {
			if src != fp {
				return true, i
			}
		}
	}
	return false, -1
}

func key(equal []string, labels map[string]string, drill bool) string {
	var b strings.Builder
	if drill {
		b.WriteString("drill")
	}
	for _, l := range equal {
		b.WriteByte(0)
		b.WriteString(labels[l])
	}
	return b.String()
}

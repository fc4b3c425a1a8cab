package inhibit

import (
	"maps"
	"slices"
)

// InhibitedBy returns the fingerprint of a firing alert that mutes the
// alert fp (the smallest, so the answer is stable), as Alertmanager's API
// reports inhibitedBy; ok is false when nothing does.
func (in *Inhibitor) InhibitedBy(fp string, labels map[string]string, drill bool) (src string, ok bool) {
	for i := range in.rules {
		r := &in.rules[i]
		if !r.Target.Matches(labels) {
			continue
		}
		for _, s := range slices.Sorted(maps.Keys(r.sources[key(r.Equal, labels, drill)])) {
			if s != fp {
				return s, true
			}
		}
	}
	return "", false
}

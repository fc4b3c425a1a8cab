package lane

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// rebuildSlack widens every horizon: stored time and event time differ by
// delivery delay and clock skew.
const rebuildSlack = 2 * time.Minute

// rebuildPhase reads the classes whose rules reach back to from.
type rebuildPhase struct {
	from    time.Time
	fromSeq uint64    // instead of from
	until   time.Time // zero: to the end
	classes []event.Class
	all     bool
	last    bool // the shortest horizon: read unfiltered
	// subjects, when set, are the filters (the lane consumer's: what the
	// engine sees live), instead of ones made from the classes.
	subjects []string
}

// wants reports whether the phase replays events of subject.
func (p rebuildPhase) wants(subject string) bool {
	if p.all {
		return true
	}
	i := strings.LastIndexByte(subject, '.')
	return slices.Contains(p.classes, event.Class(subject[i+1:]))
}

// rebuildPlan splits the read-back by how far each subject class must go:
// a 7-day fleet rule on reboots must not make the rebuild read 7 days of
// heartbeats. Phases run oldest first, each reading only the classes that
// need its span; the last one reads every class any rule needs.
func rebuildPlan(set *rule.Set, now time.Time, latestHorizon time.Duration) []rebuildPhase {
	need := map[event.Class]time.Duration{}
	all := time.Duration(0)
	classes := []event.Class{event.ClassKernel, event.ClassReboot, event.ClassDNS, event.ClassRPC, event.ClassHeartbeat, event.ClassPosture, event.ClassApp}
	for _, c := range set.Rules {
		h := c.Horizon()
		if h == 0 {
			continue
		}
		if c.Types.All || len(c.Types.Prefixes) > 0 {
			all = max(all, h)
			continue
		}
		for _, t := range c.Types.Types {
			if t == rule.TypeAlert {
				continue // derived inside the engine, never stored
			}
			need[event.ClassOf(t)] = max(need[event.ClassOf(t)], h)
		}
		for _, t := range c.LatestTypes {
			need[event.ClassOf(t)] = max(need[event.ClassOf(t)], latestHorizon)
		}
	}
	for _, c := range set.Rules {
		for _, t := range c.LatestTypes {
			need[event.ClassOf(t)] = max(need[event.ClassOf(t)], latestHorizon)
		}
	}
	for _, cl := range classes {
		need[cl] = max(need[cl], all)
	}
	var horizons []time.Duration
	for _, h := range need {
		if h > 0 && !slices.Contains(horizons, h) {
			horizons = append(horizons, h)
		}
	}
	slices.Sort(horizons)
	slices.Reverse(horizons)
	var plan []rebuildPhase
	for i, h := range horizons {
		p := rebuildPhase{from: now.Add(-h - rebuildSlack)}
		if i+1 < len(horizons) {
			p.until = now.Add(-horizons[i+1] - rebuildSlack)
		}
		for _, cl := range classes {
			if need[cl] >= h {
				p.classes = append(p.classes, cl)
			}
		}
		p.all = len(p.classes) == len(classes)
		p.last = i == len(horizons)-1
		plan = append(plan, p)
	}
	return plan
}

// filters are the server-side subject filters of a phase over src. Only
// the long phases use them (days of heartbeats are what they skip):
// filtering every message by many wildcard subjects costs the server more
// than reading them, so the shortest phase reads everything (of src's
// subjects) and skips what it does not need (wants) itself, unless src is
// sparse.
func (p rebuildPhase) filters(src Source) []string {
	if len(p.subjects) > 0 {
		return p.subjects
	}
	var out []string
	if p.all || p.last && !src.Sparse {
		if src.Whole {
			return nil
		}
		for _, pat := range src.Patterns {
			out = append(out, fmt.Sprintf(pat, ">"))
		}
		return out
	}
	for _, cl := range p.classes {
		for _, pat := range src.Patterns {
			out = append(out, fmt.Sprintf(pat, cl))
		}
	}
	return out
}

package event

import (
	"fmt"
	"strings"
)

// Subject prefixes: live traffic and drills share nothing but the format.
const (
	LivePrefix  = "events"
	DrillPrefix = "drill.events"
)

// Token makes s usable as one NATS subject token. Kubernetes node names are
// DNS subdomains (lower-case alphanumerics, '-' and '.'), so mapping '.' and
// anything else outside [A-Za-z0-9_-] to '_' cannot collide for them; the
// envelope always carries the true name.
func Token(s string) string {
	if s == "" {
		return "_"
	}
	ok := true
	for i := 0; i < len(s); i++ {
		if !tokenByte(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	b := []byte(s)
	for i := range b {
		if !tokenByte(b[i]) {
			b[i] = '_'
		}
	}
	return string(b)
}

func tokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// NATSSubject is where e is published: events.<cluster>.<node>.<class>, or
// the same under drill.events when drill is true.
func (e *Event) NATSSubject(drill bool) string {
	p := LivePrefix
	if drill {
		p = DrillPrefix
	}
	return SubjectFor(p, e.Cluster, e.Node, ClassOf(e.Type))
}

// SubjectFor joins prefix, cluster, node and class into a subject.
func SubjectFor(prefix, cluster, node string, class Class) string {
	return prefix + "." + Token(cluster) + "." + Token(node) + "." + string(class)
}

// IsDrill reports whether a subject is in the drill namespace, and fails for
// subjects that are in neither namespace.
func IsDrill(subject string) (bool, error) {
	switch {
	case strings.HasPrefix(subject, DrillPrefix+"."):
		return true, nil
	case strings.HasPrefix(subject, LivePrefix+"."):
		return false, nil
	}
	return false, fmt.Errorf("%w: %q", ErrUnknownSubject, subject)
}

// CheckSubject verifies that a live event arrived on its own node's subject.
// NATS permissions confine each collector to events.<cluster>.<node>.>, so
// this check makes the envelope as trustworthy as the permission: a node
// cannot speak for another. Drill subjects are not checked: operators replay
// whole recorded incidents onto one subject.
func (e *Event) CheckSubject(subject string) error {
	drill, err := IsDrill(subject)
	if err != nil || drill {
		return err
	}
	want := LivePrefix + "." + Token(e.Cluster) + "." + Token(e.Node) + "."
	if !strings.HasPrefix(subject, want) {
		return fmt.Errorf("%w: event of cluster %q node %q arrived on %q (want %s>)", ErrSubjectMismatch, e.Cluster, e.Node, subject, want)
	}
	return nil
}

// Package notify delivers alerts to people. Each receiver (one subpackage
// per kind) builds its requests and classifies its failures; the shared
// parts live here once: the retry loop with backoff, jitter and Retry-After,
// the per-receiver queue that throttles and coalesces, dead letters and
// the Alertmanager-shaped JSON payload.
package notify

import (
	"context"
	"maps"
	"slices"

	"github.com/aftershock/aftershock/internal/alert"
)

// Receiver delivers notifications to one destination.
type Receiver interface {
	// Name is the receiver's name in routing, metrics and dead letters.
	Name() string
	// Send delivers n. A receiver that needs several requests advances
	// n.Sent after each, so a retry resumes where it stopped. It returns a
	// reference for later messages of the same group (a Slack thread) or "".
	// Errors say whether they are worth retrying (see Error); an
	// unclassified error is treated as transient.
	Send(ctx context.Context, n *Notification) (ref string, err error)
}

// Editor is a receiver that edits its first message of a group in place
// (Slack with a bot token): grown counts then need no new message.
type Editor interface {
	EditsInPlace() bool
}

// Message is what a receiver is asked to say about one alert group.
type Message struct {
	// GroupID identifies the group (route, receiver, group labels,
	// timeline); it is stable across restarts.
	GroupID     string
	Receiver    string
	GroupLabels map[string]string
	// Firing and Resolved are the group's alerts to report; Resolved holds
	// only alerts previously notified as firing.
	Firing   []*alert.Alert
	Resolved []*alert.Alert
	Drill    bool
	// Ref is what the receiver returned for this group before ("" for the
	// first message): Slack posts updates in that thread.
	Ref string
	// Repeat marks a reminder: nothing changed since the last message.
	Repeat bool
	// Kind is what the message is to its readers; Fresh names (by
	// fingerprint) the firing alerts they have not heard of, and News the
	// significant changes of alerts they heard of, since they did.
	Kind  Kind
	Fresh map[string]bool
	News  map[string][]string
}

// Kind is what a message is to the people who read it.
type Kind int

// Message kinds.
const (
	// KindPage tells of alerts its readers have not heard of: the group's
	// first message, or new alerts joining it.
	KindPage Kind = iota
	// KindUpdate brings news about alerts they heard of (a crash's cause
	// found); Message.News says what.
	KindUpdate
	// KindRefresh only has grown counts: receivers that edit their first
	// message refresh it quietly; others send it at group_interval.
	KindRefresh
	// KindRepeat is a reminder: nothing changed in repeat_interval.
	KindRepeat
	// KindResolved says everything its readers heard of resolved.
	KindResolved
)

func (k Kind) String() string {
	return [...]string{"page", "update", "refresh", "repeat", "resolved"}[k]
}

// Critical reports whether a firing alert of m is critical and, when
// fresh is set, new to its readers.
func (m *Message) Critical(fresh bool) bool {
	for _, a := range m.Firing {
		if a.Severity == "critical" && (!fresh || m.Fresh[a.Fingerprint]) {
			return true
		}
	}
	return false
}

// Priority orders messages waiting for a busy receiver: critical pages
// first, quiet refreshes last, and a drill never before a live alert
// (lower is sooner).
func (m *Message) Priority() int {
	p := [...]int{KindPage: 0, KindUpdate: 1, KindResolved: 4, KindRepeat: 5, KindRefresh: 6}[m.Kind]
	if p < 2 && !m.Critical(false) {
		p += 2
	}
	if m.Drill {
		p += 10
	}
	return p
}

// Absorb merges an older message of the same group that was never sent
// into m, which replaces it: what the older one would have told (fresh
// alerts, news) must still be told.
func (m *Message) Absorb(old *Message) {
	if m.Ref == "" {
		m.Ref = old.Ref
	}
	for fp := range old.Fresh {
		if m.Fresh == nil {
			m.Fresh = map[string]bool{}
		}
		m.Fresh[fp] = true
	}
	for fp, notes := range old.News {
		if m.News == nil {
			m.News = map[string][]string{}
		}
		m.News[fp] = append(slices.Clip(notes), m.News[fp]...)
	}
	if m.Kind != KindResolved && old.Kind < m.Kind {
		m.Kind = old.Kind
	}
}

// Status is "firing" while any alert fires, else "resolved".
func (m *Message) Status() alert.State {
	if len(m.Firing) > 0 {
		return alert.Firing
	}
	return alert.Resolved
}

// Alerts are the firing alerts, then the resolved ones.
func (m *Message) Alerts() []*alert.Alert {
	return append(slices.Clip(m.Firing), m.Resolved...)
}

// CommonLabels are the labels every alert of m has with the same value.
func (m *Message) CommonLabels() map[string]string {
	as := m.Alerts()
	if len(as) == 0 {
		return map[string]string{}
	}
	out := maps.Clone(as[0].Labels)
	if out == nil {
		out = map[string]string{}
	}
	for _, a := range as[1:] {
		for k, v := range out {
			if a.Labels[k] != v {
				delete(out, k)
			}
		}
	}
	return out
}

// Notification is one delivery to one receiver: a single message, or
// several coalesced into one digest when the receiver is rate limited.
type Notification struct {
	Receiver string
	Messages []*Message
	// Sent counts the parts a multi-request receiver has delivered.
	Sent int
	// Scratch is the receiver's own state for this notification, kept
	// across retries (WeCom keeps its split plan here).
	Scratch any
}

// Drill reports whether every message is a drill.
func (n *Notification) Drill() bool {
	for _, m := range n.Messages {
		if !m.Drill {
			return false
		}
	}
	return len(n.Messages) > 0
}

// Alerts counts the alerts of all messages.
func (n *Notification) Alerts() int {
	c := 0
	for _, m := range n.Messages {
		c += len(m.Firing) + len(m.Resolved)
	}
	return c
}

// Package brief turns an alert into what a person reads at 3am, before any
// markup: a short title, the summary, a few fields (node, cluster, since in
// the team's time zone and UTC), the rule's notes in its own order, the
// crashed node's last kernel words, and the evidence counted by type with a
// handful of one-line events instead of raw JSON. Receivers (Slack, WeCom,
// the console, webhooks) format a Brief in their own markup, so every
// channel says the same thing.
package brief

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
)

// Options are the team's presentation settings (routing.yaml).
type Options struct {
	Clock Clock
	// ExternalURL links an alert to its page, <ExternalURL>/alerts/<fingerprint>;
	// "" links nothing.
	ExternalURL string
}

// Field is a named value.
type Field struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Brief is one alert as people read it.
type Brief struct {
	Alert *alert.Alert
	// Title is the rule's headline, else the summary (never empty).
	Title   string
	Summary string
	// Details is the rule's details paragraph.
	Details string
	Fields  []Field
	// Notes are the rule's annotations, in the order it wrote them.
	Notes []Field
	// LastWords is the tail of a crashed node's kernel log.
	LastWords *LastWords
	// Tally counts the evidence by type, one line each; Events are a few
	// key events, one line each.
	Tally  []string
	Events []string
	// Change says what this update brings (empty on a first page).
	Change []string
	// Link is the alert's page ("" without external_url).
	Link   string
	Footer string
}

// LastWords is the end of a node's previous boot's kernel log.
type LastWords struct {
	Node, Source string
	Lines        []string
}

// Limits of a brief, so the message stays readable on a phone.
const (
	maxLastWords = 8
	maxEvents    = 4
	maxTopNodes  = 3
)

// Of briefs a.
func Of(a *alert.Alert, o Options) *Brief {
	c := o.Clock
	b := &Brief{Alert: a, Summary: a.Summary, Details: a.Details, Title: a.Headline}
	if b.Title == "" {
		b.Title = a.Rule + ": " + a.Summary
	}
	b.Fields = fields(a, c)
	for _, name := range noteNames(a) {
		if v := strings.TrimSpace(a.Annotations[name]); v != "" {
			b.Notes = append(b.Notes, Field{Name: Humanize(name), Value: v})
		}
	}
	for _, ev := range a.Evidence {
		if lw := lastWords(&ev, c); lw != nil && b.LastWords == nil {
			b.LastWords = lw
		}
	}
	b.Tally = tallyLines(a, c)
	b.Events = keyEvents(a.Evidence, c)
	if a.Change != nil && a.State == alert.Firing {
		b.Change = a.Change.Notes
	}
	if o.ExternalURL != "" && a.Fingerprint != "" {
		b.Link = o.ExternalURL + "/alerts/" + a.Fingerprint
	}
	b.Footer = fmt.Sprintf("rule %s · rules %s · fingerprint %s", a.Rule, orString(a.RulesVersion, "-"), a.Fingerprint)
	return b
}

func fields(a *alert.Alert, c Clock) []Field {
	var out []Field
	add := func(name, v string) {
		if v != "" {
			out = append(out, Field{name, v})
		}
	}
	if n := a.Labels["node"]; strings.Contains(n, ",") {
		add("Nodes", strings.ReplaceAll(n, ",", ", "))
	} else {
		add("Node", n)
	}
	add("Cluster", a.Labels["cluster"])
	add("Since", c.At(a.Begins()))
	if a.State == alert.Resolved && !a.EndsAt.IsZero() {
		add("Resolved", c.At(a.EndsAt))
		add("Lasted", Duration(a.EndsAt.Sub(a.Begins())))
	}
	add("Severity", a.Severity)
	for i := range a.Evidence {
		if m := memoryBefore(&a.Evidence[i]); m != "" {
			add("Memory before the crash", m)
			break
		}
	}
	return out
}

// noteNames are the annotations in the rule's order, then any others
// (resolve reasons) sorted.
func noteNames(a *alert.Alert) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range a.NoteOrder {
		if _, ok := a.Annotations[n]; ok && !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	var rest []string
	for n := range a.Annotations {
		if !seen[n] {
			rest = append(rest, n)
		}
	}
	sortStrings(rest)
	return append(out, rest...)
}

// acronyms are written in capitals in labels.
var acronyms = map[string]string{"dns": "DNS", "oom": "OOM", "rpc": "RPC", "cpu": "CPU", "io": "I/O", "ip": "IP", "url": "URL", "id": "ID"}

// labels are the names the engine gives annotations of its own.
var labels = map[string]string{"resolved_reason": "Why resolved"}

// Humanize turns an annotation name into a label: known_bug → Known bug,
// dns → DNS.
func Humanize(name string) string {
	if l, ok := labels[name]; ok {
		return l
	}
	words := strings.Split(name, "_")
	for i, w := range words {
		if a, ok := acronyms[w]; ok {
			words[i] = a
		}
	}
	r := []rune(strings.Join(words, " "))
	if len(r) > 0 {
		r[0] = unicode.ToUpper(r[0])
	}
	return string(r)
}

func memoryBefore(ev *event.Event) string {
	if ev.Type != event.TypeReboot {
		return ""
	}
	var d event.Reboot
	if !decode(ev.Data, &d) {
		return ""
	}
	return MemoryBefore(&d)
}

// MemoryBefore is an unclean reboot's memory before the crash, with when
// it was taken as far as known: "12.3 GiB of 15.5 GiB available (79%), 8s
// before the crash", "…, at the last heartbeat"; "" without one.
func MemoryBefore(d *event.Reboot) string {
	if d.Clean || d.Meminfo == nil {
		return ""
	}
	s := MemoryLine(d.Meminfo)
	switch {
	case d.MeminfoAgeSeconds > 0:
		s += fmt.Sprintf(", %s before the crash", Duration(secs(d.MeminfoAgeSeconds)))
	case d.MeminfoSource == event.MeminfoFromHeartbeat:
		// The cause is not dated (a kdump or pstore dmesg): how much
		// happened between the snapshot and the crash is unknown.
		s += ", at the last heartbeat"
	}
	return s
}

func lastWords(ev *event.Event, c Clock) *LastWords {
	if ev.Type != event.TypeReboot {
		return nil
	}
	var d event.Reboot
	if !decode(ev.Data, &d) || d.Clean || len(d.LastWords) == 0 {
		return nil
	}
	lines := d.LastWords
	if len(lines) > maxLastWords {
		lines = lines[len(lines)-maxLastWords:]
	}
	lw := &LastWords{Node: ev.Node, Source: strings.Join(d.Sources, ", ")}
	for _, l := range lines {
		lw.Lines = append(lw.Lines, KernelLine(l, c))
	}
	return lw
}

// keyEvents are one line per event type, its latest, in time order (at
// most maxEvents, rare types first as the evidence has them).
func keyEvents(evs []event.Event, c Clock) []string {
	latest := map[string]int{}
	var types []string
	for i := range evs {
		if _, ok := latest[evs[i].Type]; !ok {
			types = append(types, evs[i].Type)
		}
		latest[evs[i].Type] = i
	}
	var picked []*event.Event
	for _, t := range types[:min(len(types), maxEvents)] {
		picked = append(picked, &evs[latest[t]])
	}
	// In the order they happened (the evidence is in window order, where a
	// reboot sits at its last heartbeat).
	slices.SortStableFunc(picked, func(a, b *event.Event) int { return a.Time.Compare(b.Time) })
	out := make([]string, len(picked))
	for i, ev := range picked {
		out[i] = c.EventLine(ev)
	}
	return out
}

// typeNames are what readers call event types that are not self-evident.
var typeNames = map[string]string{"aftershock.alert": "alert"}

func typeName(t string) string {
	if n, ok := typeNames[t]; ok {
		return n
	}
	return t
}

func tallyLines(a *alert.Alert, c Clock) []string {
	var out []string
	for _, t := range a.Tally {
		var b strings.Builder
		fmt.Fprintf(&b, "%s ×%d", typeName(t.Type), t.Events)
		if t.Occurrences > t.Events {
			fmt.Fprintf(&b, " (%d in all)", t.Occurrences)
		}
		if t.Nodes == 1 && len(t.TopNodes) == 1 {
			fmt.Fprintf(&b, " on %s", t.TopNodes[0].Node)
		} else {
			fmt.Fprintf(&b, " on %d nodes", t.Nodes)
		}
		fmt.Fprintf(&b, ", %s", c.Span(t.First, t.Last))
		// Name the nodes that had most only where they stand out.
		if t.Nodes > 1 && len(t.TopNodes) > 0 && t.TopNodes[0].Events*t.Nodes >= 2*t.Events {
			var most []string
			for _, n := range t.TopNodes[:min(len(t.TopNodes), maxTopNodes)] {
				most = append(most, fmt.Sprintf("%s ×%d", n.Node, n.Events))
			}
			fmt.Fprintf(&b, "; most on %s", strings.Join(most, ", "))
		}
		out = append(out, b.String())
	}
	return out
}

// JSON is the brief as data (webhooks carry it beside the alert).
func (b *Brief) JSON() json.RawMessage {
	raw, _ := json.Marshal(struct {
		Title     string     `json:"title"`
		Fields    []Field    `json:"fields,omitempty"`
		LastWords *LastWords `json:"last_words,omitempty"`
		Tally     []string   `json:"tally,omitempty"`
		Events    []string   `json:"events,omitempty"`
		Change    []string   `json:"change,omitempty"`
		Link      string     `json:"link,omitempty"`
	}{b.Title, b.Fields, b.LastWords, b.Tally, b.Events, b.Change, b.Link})
	return raw
}

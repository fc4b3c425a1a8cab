// Package alert defines what the router says: an alert with a deterministic
// identity, its evidence and its lifecycle state.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// State is where an alert is in its lifecycle.
type State string

// Alert states.
const (
	Firing   State = "firing"
	Resolved State = "resolved"
)

// MaxEvidence caps the events an alert carries: the key ones (every type's
// latest, rare types first); its Tally counts the rest, and EVENTS keeps
// them all.
const MaxEvidence = 8

// Alert is published to the ALERTS stream, with ID as Nats-Msg-Id so a
// replay after a crash cannot store (or notify) it twice.
type Alert struct {
	// ID identifies this firing or resolution of this window.
	ID string `json:"id"`
	// Fingerprint identifies the thing alerted on (rule + group key): the
	// key for dedup, repeat and resolve.
	Fingerprint string            `json:"fingerprint"`
	Rule        string            `json:"rule"`
	Severity    string            `json:"severity"`
	State       State             `json:"state"`
	Labels      map[string]string `json:"labels,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
	// Headline is the rule's short title, for a phone's notification
	// line; empty: use the summary.
	Headline string `json:"headline,omitempty"`
	Summary  string `json:"summary"`
	Details  string `json:"details,omitempty"`
	// NoteOrder lists the annotations in the order the rule wrote them,
	// most important first (Annotations is a map for Alertmanager-shaped
	// consumers).
	NoteOrder   []string  `json:"note_order,omitempty"`
	GroupKey    string    `json:"group_key"`
	Receivers   []string  `json:"receivers,omitempty"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	StartsAt    time.Time `json:"starts_at"`
	// Since is when what the alert is about began (a crash: the node's last
	// heartbeat), which may be before it fired; zero: StartsAt.
	Since        time.Time     `json:"since,omitzero"`
	EndsAt       time.Time     `json:"ends_at,omitzero"`
	Evidence     []event.Event `json:"evidence,omitempty"`
	EvidenceSeen int           `json:"evidence_seen"`
	Drill        bool          `json:"drill"`
	RulesVersion string        `json:"rules_version,omitempty"`
	// Update counts re-publications of a firing alert whose window grew
	// (more timeouts, more nodes, the crash cause now known); 0 for the first.
	Update int `json:"update,omitempty"`
	// Change says what the update brings; nil for the first firing.
	Change *Change `json:"change,omitempty"`
	// Tally counts the window's evidence by type (window alerts): the
	// evidence itself is a few key events.
	Tally []TypeTally `json:"tally,omitempty"`
	// CreatedAt is the router's wall clock; all other times are event time.
	CreatedAt time.Time `json:"created_at"`
}

// Change is what an update of a firing alert brings.
type Change struct {
	// Significant marks news that cannot wait (a cause found, another node
	// crashed): receivers hear of it at once. Otherwise the alert grew.
	Significant bool `json:"significant"`
	// Notes say what changed, for people ("cause found: kernel BUG at …").
	Notes []string `json:"notes,omitempty"`
	// Values are the rule values that changed (significant updates).
	Values []string `json:"values,omitempty"`
}

// TypeTally counts one event type of an alert's window.
type TypeTally struct {
	Type string `json:"type"`
	// Events are the window's records; Occurrences add up their counts
	// (a rolled-up dns.timeout of 11 failures is one event, 11 occurrences).
	Events      int64       `json:"events"`
	Occurrences int64       `json:"occurrences"`
	Nodes       int64       `json:"nodes"`
	First       time.Time   `json:"first"`
	Last        time.Time   `json:"last"`
	TopNodes    []NodeCount `json:"top_nodes,omitempty"`
}

// NodeCount is one node's events of a type.
type NodeCount struct {
	Node   string `json:"node"`
	Events int64  `json:"events"`
}

// Begins is when what the alert is about began: Since, else StartsAt.
func (a *Alert) Begins() time.Time {
	if !a.Since.IsZero() {
		return a.Since
	}
	return a.StartsAt
}

// Fingerprint hashes a rule name and group key.
func Fingerprint(rule, groupKey string) string {
	return hash(rule, groupKey)
}

// MakeID derives the alert id from its fingerprint, window start and state,
// so re-evaluating the same events always yields the same id.
func MakeID(fingerprint string, windowStart time.Time, state State) string {
	return hash(fingerprint, windowStart.UTC().Format(time.RFC3339Nano), string(state))
}

// UpdateID is the id of the nth update of a firing alert.
func UpdateID(fingerprint string, windowStart time.Time, n int) string {
	return hash(fingerprint, windowStart.UTC().Format(time.RFC3339Nano), string(Firing), fmt.Sprint(n))
}

func hash(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:12])
}

// Subject is where the alert is published: alerts.<live|drill>.<rule>.
func (a *Alert) Subject() string {
	tl := "live"
	if a.Drill {
		tl = "drill"
	}
	return "alerts." + tl + "." + event.Token(a.Rule)
}

// Encode marshals the alert (as json.Marshal does).
func (a *Alert) Encode() ([]byte, error) {
	return a.AppendJSON(make([]byte, 0, 2048+640*len(a.Evidence)))
}

// AppendJSON appends the alert's encoding (Encode's) to b.
func (a *Alert) AppendJSON(b []byte) ([]byte, error) {
	if out, ok := encodeFast(b, a); ok {
		return out, nil
	}
	j, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("encode alert %s: %w", a.ID, err)
	}
	return append(b, j...), nil
}

// Decode parses an alert from the ALERTS stream.
func Decode(b []byte) (*Alert, error) {
	var a Alert
	if !decodeFast(b, &a) {
		a = Alert{}
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("decode alert: %w", err)
		}
	}
	if a.ID == "" || a.Rule == "" {
		return nil, fmt.Errorf("decode alert: missing id or rule")
	}
	return &a, nil
}

// Stored decodes an alert read back from ALERTS and checks that it is one
// the router published: a fingerprint and a state, on its own subject, with
// its id as Nats-Msg-Id. Anything else on alerts.> (a JetStream ack stored
// there through a reply subject, a hand-made publish) is not the router's.
func Stored(subject, msgID string, data []byte) (*Alert, error) {
	a, err := Decode(data)
	switch {
	case err != nil:
		return nil, err
	case a.Fingerprint == "" || (a.State != Firing && a.State != Resolved):
		return nil, fmt.Errorf("not an alert the router published: no fingerprint or state %q", a.State)
	case subject != a.Subject():
		return nil, fmt.Errorf("not an alert the router published: on %s, its subject is %s", subject, a.Subject())
	case msgID != a.ID:
		return nil, fmt.Errorf("not an alert the router published: Nats-Msg-Id %q, its id is %q", msgID, a.ID)
	}
	return a, nil
}

// Title is a one-line description for logs and message headers.
func (a *Alert) Title() string {
	var b strings.Builder
	if a.Drill {
		b.WriteString("[DRILL] ")
	}
	fmt.Fprintf(&b, "[%s] %s", strings.ToUpper(string(a.State)), strings.ToUpper(orDefault(a.Severity, "info")))
	fmt.Fprintf(&b, " %s: %s", a.Rule, a.Summary)
	return b.String()
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

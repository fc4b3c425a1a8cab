package notify

import (
	"maps"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/event"
)

// PayloadVersion is the webhook schema version: Alertmanager's version 4,
// so existing Alertmanager webhook consumers read it unchanged. aftershock
// adds fields (drill, groupId, per-alert id, rule, summary, evidence…),
// which such consumers ignore. The schema is documented in
// docs/notifications.md; fields are only ever added.
const PayloadVersion = "4"

// Payload is one message as JSON.
type Payload struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            alert.State       `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []PayloadAlert    `json:"alerts"`

	Drill   bool   `json:"drill"`
	GroupID string `json:"groupId"`
	Repeat  bool   `json:"repeat"`
	// Kind is what the message is to its readers: page, update (news
	// about alerts an earlier message of this groupKey told, in each
	// alert's change), refresh, repeat or resolved.
	Kind string `json:"kind"`
}

// PayloadAlert is one alert in a Payload.
type PayloadAlert struct {
	Status       alert.State       `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`

	ID           string        `json:"id"`
	Rule         string        `json:"rule"`
	Severity     string        `json:"severity"`
	Summary      string        `json:"summary"`
	Details      string        `json:"details,omitempty"`
	Drill        bool          `json:"drill"`
	RulesVersion string        `json:"rulesVersion,omitempty"`
	EvidenceSeen int           `json:"evidenceSeen"`
	Evidence     []event.Event `json:"evidence,omitempty"`
	// Headline is the rule's short title; Since when what the alert is
	// about began; Change the news this message brings about it.
	Headline string            `json:"headline,omitempty"`
	Since    time.Time         `json:"since,omitzero"`
	Change   []string          `json:"change,omitempty"`
	Tally    []alert.TypeTally `json:"tally,omitempty"`
}

// NewPayload renders m; maxAlerts > 0 keeps only that many alerts (firing
// first) and counts the rest in TruncatedAlerts.
func NewPayload(m *Message, maxAlerts int) *Payload {
	as := m.Alerts()
	p := &Payload{
		Version:           PayloadVersion,
		GroupKey:          m.GroupID,
		Status:            m.Status(),
		Receiver:          m.Receiver,
		GroupLabels:       nonNil(m.GroupLabels),
		CommonLabels:      map[string]string{},
		CommonAnnotations: map[string]string{},
		Drill:             m.Drill,
		GroupID:           m.GroupID,
		Repeat:            m.Repeat,
		Kind:              m.Kind.String(),
	}
	if maxAlerts > 0 && len(as) > maxAlerts {
		p.TruncatedAlerts = len(as) - maxAlerts
		as = as[:maxAlerts]
	}
	for i, a := range as {
		pa := NewPayloadAlert(a)
		pa.Change = m.News[a.Fingerprint]
		p.Alerts = append(p.Alerts, pa)
		if i == 0 {
			p.CommonLabels, p.CommonAnnotations = maps.Clone(pa.Labels), maps.Clone(pa.Annotations)
			continue
		}
		intersect(p.CommonLabels, pa.Labels)
		intersect(p.CommonAnnotations, pa.Annotations)
	}
	if p.Alerts == nil {
		p.Alerts = []PayloadAlert{}
	}
	return p
}

// SetExternalURL points the payload at the router's web pages, as
// Alertmanager's externalURL and generatorURL do: each alert links to its
// page.
func (p *Payload) SetExternalURL(u string) {
	if u == "" {
		return
	}
	p.ExternalURL = u
	for i := range p.Alerts {
		p.Alerts[i].GeneratorURL = u + "/alerts/" + p.Alerts[i].Fingerprint
	}
}

// NewPayloadAlert renders one alert: labels gain alertname (the rule) and
// severity, annotations gain summary and description (the details), as
// Alertmanager consumers expect.
func NewPayloadAlert(a *alert.Alert) PayloadAlert {
	labels := maps.Clone(a.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels["alertname"] = a.Rule
	if _, ok := labels["severity"]; !ok && a.Severity != "" {
		labels["severity"] = a.Severity
	}
	ann := maps.Clone(a.Annotations)
	if ann == nil {
		ann = map[string]string{}
	}
	ann["summary"] = a.Summary
	if a.Details != "" {
		ann["description"] = a.Details
	}
	return PayloadAlert{
		Status: a.State, Labels: labels, Annotations: ann, StartsAt: a.StartsAt, EndsAt: a.EndsAt,
		Fingerprint: a.Fingerprint, ID: a.ID, Rule: a.Rule, Severity: a.Severity, Summary: a.Summary,
		Details: a.Details, Drill: a.Drill, RulesVersion: a.RulesVersion, EvidenceSeen: a.EvidenceSeen, Evidence: a.Evidence,
		Headline: a.Headline, Since: a.Since, Tally: a.Tally,
	}
}

func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

func intersect(into, other map[string]string) {
	for k, v := range into {
		if other[k] != v {
			delete(into, k)
		}
	}
}

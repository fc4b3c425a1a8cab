package ingest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/aftershock/aftershock/internal/event"
)

// amMessage is Alertmanager's webhook payload, version 4
// (https://prometheus.io/docs/alerting/latest/configuration/#webhook_config).
// Unknown fields are ignored so a newer Alertmanager keeps working.
type amMessage struct {
	Version           string            `json:"version"`
	GroupKey          string            `json:"groupKey"`
	TruncatedAlerts   int               `json:"truncatedAlerts"`
	Status            string            `json:"status"`
	Receiver          string            `json:"receiver"`
	GroupLabels       map[string]string `json:"groupLabels"`
	CommonLabels      map[string]string `json:"commonLabels"`
	CommonAnnotations map[string]string `json:"commonAnnotations"`
	ExternalURL       string            `json:"externalURL"`
	Alerts            []amAlert         `json:"alerts"`
}

type amAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// alertmanager turns each alert of a webhook into an alertmanager.alert
// event. Alertmanager retries a webhook it got no 2xx for, so ids are
// derived from fingerprint, status and startsAt: a retry is stored once.
// Alertmanager does not retry a 4xx, so a bad payload is not resent forever.
func (h *Handler) alertmanager(_ *http.Request, body []byte) ([]*pending, *httpError) {
	var msg amMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&msg); err != nil {
		return nil, badRequest("alertmanager payload: " + err.Error())
	}
	if msg.Version != "4" {
		return nil, badRequest(fmt.Sprintf("alertmanager payload version %q: only version \"4\" is understood", msg.Version))
	}
	if len(msg.Alerts) == 0 {
		return nil, badRequest("alertmanager payload: no alerts")
	}
	source := "alertmanager"
	if msg.ExternalURL != "" {
		source = msg.ExternalURL
	}
	var probs []Problem
	out := make([]*pending, 0, len(msg.Alerts))
	seen := map[string]int{}
	for i, a := range msg.Alerts {
		p, err := h.alertEvent(source, &msg, a)
		if err != nil {
			probs = append(probs, Problem{Index: i, Reason: err.Error()})
			continue
		}
		// Alertmanager never sends one alert twice in a group; a sender that
		// does would have its second copy dropped by deduplication anyway.
		if _, dup := seen[p.id]; dup {
			continue
		}
		seen[p.id] = i
		out = append(out, p)
	}
	if len(probs) > 0 {
		return nil, badRequest(fmt.Sprintf("%d of %d alerts invalid; nothing stored", len(probs), len(msg.Alerts)), probs...)
	}
	return out, nil
}

func (h *Handler) alertEvent(source string, msg *amMessage, a amAlert) (*pending, error) {
	if a.Status != "firing" && a.Status != "resolved" {
		return nil, fmt.Errorf("status %q: want firing or resolved", a.Status)
	}
	if len(a.Labels) == 0 {
		return nil, fmt.Errorf("alert has no labels")
	}
	if a.StartsAt.IsZero() {
		return nil, fmt.Errorf("startsAt missing")
	}
	fp := a.Fingerprint
	if fp == "" {
		fp = labelsFingerprint(a.Labels)
	}
	// Alertmanager sends 0001-01-01 for "not ended".
	var endsAt time.Time
	if a.EndsAt.Year() > 1 {
		endsAt = a.EndsAt.UTC()
	}
	// The event happened when the alert started firing, or when it ended.
	at := a.StartsAt
	if a.Status == "resolved" && !endsAt.IsZero() {
		at = endsAt
	}
	data := event.AlertmanagerAlert{
		Status:       a.Status,
		Labels:       a.Labels,
		Annotations:  a.Annotations,
		StartsAt:     a.StartsAt.UTC(),
		EndsAt:       endsAt,
		GeneratorURL: a.GeneratorURL,
		Fingerprint:  fp,
		Receiver:     msg.Receiver,
		ExternalURL:  msg.ExternalURL,
	}
	cluster := firstLabel(a.Labels, h.opts.ClusterLabels, h.opts.Cluster)
	node := firstLabel(a.Labels, h.opts.NodeLabels, h.opts.Node)
	ev, err := event.New(event.TypeAlertmanagerAlert, source, cluster, node, at, data)
	if err != nil {
		return nil, err
	}
	ev.ID = alertID(fp, a.Status, a.StartsAt)
	b, err := ev.Encode()
	if err != nil {
		return nil, err
	}
	return &pending{id: ev.ID, subject: ev.NATSSubject(false), data: b}, nil
}

// alertID is a ULID whose time is startsAt and whose randomness is a hash of
// fingerprint, status and startsAt: deterministic, and still time-sortable.
func alertID(fingerprint, status string, startsAt time.Time) string {
	sum := sha256.Sum256([]byte(fingerprint + "\x00" + status + "\x00" + startsAt.UTC().Format(time.RFC3339Nano)))
	return ulid.MustNew(ulid.Timestamp(startsAt), bytes.NewReader(sum[:])).String()
}

// labelsFingerprint identifies an alert by its labels when the sender gave
// no fingerprint (Alertmanager always does).
func labelsFingerprint(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	h := sha256.New()
	for _, k := range keys {
		h.Write([]byte(k + "\xff" + labels[k] + "\xff"))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func firstLabel(labels map[string]string, names []string, def string) string {
	for _, n := range names {
		if v := labels[n]; v != "" {
			return v
		}
	}
	return def
}

package amapi

import "time"

// The JSON shapes of Alertmanager's OpenAPI v2 (api/v2/openapi.yaml of
// prometheus/alertmanager v0.35.0), the fields its clients read. Written
// out rather than imported: the generated models would bring go-openapi
// into the router for a dozen structs.

type labelSet map[string]string

type receiverRef struct {
	Name string `json:"name"`
}

type alertStatus struct {
	// State is "active" or "suppressed" (silenced or inhibited); every
	// alert in ALERT_STATE has been processed.
	State       string   `json:"state"`
	SilencedBy  []string `json:"silencedBy"`
	InhibitedBy []string `json:"inhibitedBy"`
	MutedBy     []string `json:"mutedBy"`
}

type gettableAlert struct {
	Annotations  labelSet      `json:"annotations"`
	Receivers    []receiverRef `json:"receivers"`
	Fingerprint  string        `json:"fingerprint"`
	StartsAt     time.Time     `json:"startsAt"`
	UpdatedAt    time.Time     `json:"updatedAt"`
	EndsAt       time.Time     `json:"endsAt"`
	Status       alertStatus   `json:"status"`
	Labels       labelSet      `json:"labels"`
	GeneratorURL string        `json:"generatorURL,omitempty"`
}

type alertGroup struct {
	Labels      labelSet         `json:"labels"`
	RouteLabels labelSet         `json:"routeLabels"`
	Receiver    receiverRef      `json:"receiver"`
	Alerts      []*gettableAlert `json:"alerts"`
}

type matcher struct {
	Name    string `json:"name"`
	Value   string `json:"value"`
	IsRegex bool   `json:"isRegex"`
	// IsEqual defaults to true when absent (older clients).
	IsEqual *bool `json:"isEqual,omitempty"`
}

type silenceStatus struct {
	State string `json:"state"`
}

// postableSilence is what clients send; pointers tell absent from zero.
type postableSilence struct {
	ID          string     `json:"id,omitempty"`
	Matchers    []matcher  `json:"matchers"`
	StartsAt    *time.Time `json:"startsAt"`
	EndsAt      *time.Time `json:"endsAt"`
	CreatedBy   string     `json:"createdBy"`
	Comment     string     `json:"comment"`
	Annotations labelSet   `json:"annotations,omitempty"`
}

type gettableSilence struct {
	ID          string        `json:"id"`
	Status      silenceStatus `json:"status"`
	UpdatedAt   time.Time     `json:"updatedAt"`
	Matchers    []matcher     `json:"matchers"`
	StartsAt    time.Time     `json:"startsAt"`
	EndsAt      time.Time     `json:"endsAt"`
	CreatedBy   string        `json:"createdBy"`
	Comment     string        `json:"comment"`
	Annotations labelSet      `json:"annotations"`
}

type versionInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

type clusterStatus struct {
	Name   string       `json:"name,omitempty"`
	Status string       `json:"status"`
	Peers  []peerStatus `json:"peers"`
}

type peerStatus struct {
	Name    string `json:"name"`
	Address string `json:"address"`
}

type amStatus struct {
	Cluster     clusterStatus `json:"cluster"`
	VersionInfo versionInfo   `json:"versionInfo"`
	Config      struct {
		Original string `json:"original"`
	} `json:"config"`
	Uptime time.Time `json:"uptime"`
}

type receiver struct {
	Name string `json:"name"`
}

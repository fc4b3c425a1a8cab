// Package route reads the routing file (rules/routing.yaml): the routing
// tree that sends alerts to receivers with their grouping and timing, the
// receiver definitions (with secrets taken from the environment or files,
// never from the rules repository) and the inhibition rules.
package route

import (
	"time"

	"github.com/aftershock/aftershock/internal/duration"
)

// File is routing.yaml as written (see docs/notifications.md).
type File struct {
	// ResolveTimeout resolves a firing alert that has neither been refreshed
	// nor resolved for this long (default 24h).
	ResolveTimeout *Duration            `yaml:"resolve_timeout"`
	Route          *RouteConfig         `yaml:"route"`
	Receivers      []ReceiverConfig     `yaml:"receivers"`
	InhibitRules   []InhibitRuleConfig  `yaml:"inhibit_rules"`
	Defaults       *ReceiverDefaultsYML `yaml:"receiver_defaults"`
	// TimeZone is an IANA zone (Asia/Shanghai) that messages show times in,
	// beside UTC; default UTC only.
	TimeZone string `yaml:"time_zone"`
	// ExternalURL is where people reach the router's web pages (behind a
	// reverse proxy, say): messages link to <external_url>/alerts/<fingerprint>.
	ExternalURL string `yaml:"external_url"`
}

// ReceiverDefaultsYML sets the retry and timeout of receivers that do not set
// their own.
type ReceiverDefaultsYML struct {
	Timeout *Duration    `yaml:"timeout"`
	Retry   *RetryConfig `yaml:"retry"`
}

// RouteConfig is one node of the routing tree. Unset fields are inherited
// from the parent; the root takes the defaults.
type RouteConfig struct {
	Receiver       string    `yaml:"receiver"`
	Matchers       []string  `yaml:"matchers"`
	GroupBy        []string  `yaml:"group_by"`
	GroupWait      *Duration `yaml:"group_wait"`
	GroupInterval  *Duration `yaml:"group_interval"`
	RepeatInterval *Duration `yaml:"repeat_interval"`
	// UpdateInterval is the least time between two messages of a group
	// about news that cannot wait for group_interval: a firing alert's
	// significant update (a crash's cause found), or, for receivers that
	// edit their first message in place (Slack with a bot token), its
	// refreshed counts.
	UpdateInterval *Duration      `yaml:"update_interval"`
	SendResolved   *bool          `yaml:"send_resolved"`
	Continue       bool           `yaml:"continue"`
	Routes         []*RouteConfig `yaml:"routes"`
}

// ReceiverConfig defines one receiver: exactly one of console, slack, wecom
// or webhook.
type ReceiverConfig struct {
	Name string `yaml:"name"`
	// Drills says the receiver takes drill alerts. Default: true for
	// console receivers, false for the others.
	Drills    *bool          `yaml:"drills"`
	Timeout   *Duration      `yaml:"timeout"`
	Retry     *RetryConfig   `yaml:"retry"`
	RateLimit *RateLimit     `yaml:"rate_limit"`
	Console   *ConsoleConfig `yaml:"console"`
	Slack     *SlackConfig   `yaml:"slack"`
	WeCom     *WeComConfig   `yaml:"wecom"`
	Webhook   *WebhookConfig `yaml:"webhook"`
}

// Kind names the receiver's type.
func (r *ReceiverConfig) Kind() string {
	switch {
	case r.Console != nil:
		return "console"
	case r.Slack != nil:
		return "slack"
	case r.WeCom != nil:
		return "wecom"
	case r.Webhook != nil:
		return "webhook"
	}
	return ""
}

// TakesDrills reports whether drill alerts may reach the receiver.
func (r *ReceiverConfig) TakesDrills() bool {
	if r.Drills != nil {
		return *r.Drills
	}
	return r.Console != nil
}

// RetryConfig bounds the shared retry loop for one receiver.
type RetryConfig struct {
	Initial *Duration `yaml:"initial"`
	Max     *Duration `yaml:"max"`
	// MaxElapsed is how long one notification may be retried before it is
	// dead-lettered.
	MaxElapsed *Duration `yaml:"max_elapsed"`
}

// RateLimit is at most Messages requests per Per; excess alerts wait and are
// coalesced, never dropped.
type RateLimit struct {
	Messages int      `yaml:"messages"`
	Per      Duration `yaml:"per"`
}

// ConsoleConfig prints to the router's standard output.
type ConsoleConfig struct{}

// SlackConfig posts with an incoming webhook (webhook_url) or a bot token
// (token + channel, with threads).
type SlackConfig struct {
	WebhookURL *SecretRef `yaml:"webhook_url"`
	Token      *SecretRef `yaml:"token"`
	Channel    string     `yaml:"channel"`
	// APIURL overrides https://slack.com/api/ (proxies, tests).
	APIURL string `yaml:"api_url"`
}

// WeComConfig posts to a WeCom group robot.
type WeComConfig struct {
	// URL is the send endpoint without the key (default
	// https://qyapi.weixin.qq.com/cgi-bin/webhook/send).
	URL string     `yaml:"url"`
	Key *SecretRef `yaml:"key"`
	// MentionMobiles are paged (text message with mentioned_mobile_list) for
	// critical alerts; "@all" pages everyone.
	MentionMobiles []string `yaml:"mention_mobiles"`
}

// WebhookConfig posts Alertmanager-shaped JSON (docs/notifications.md).
type WebhookConfig struct {
	URL *SecretRef `yaml:"url"`
	// HMACSecret signs each body (X-Aftershock-Signature).
	HMACSecret *SecretRef `yaml:"hmac_secret"`
	// MaxAlerts caps the alerts of one message (0: all).
	MaxAlerts int `yaml:"max_alerts"`
}

// InhibitRuleConfig mutes target alerts while a source alert with the same
// values of the equal labels fires.
type InhibitRuleConfig struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal"`
}

// Duration is a duration written in the routing file ("90s", "5m", "7d":
// package duration).
type Duration = duration.Duration

// or is d, or def when d is not set.
func or(d *Duration, def time.Duration) time.Duration {
	if d == nil {
		return def
	}
	return d.Std()
}

// RequestTimeout bounds one request to the receiver (default 10s).
func (r *ReceiverConfig) RequestTimeout() time.Duration { return or(r.Timeout, DefaultTimeout) }

// RetryBounds are the retry loop's first wait, longest wait and budget.
func (r *ReceiverConfig) RetryBounds() (initial, maxWait, maxElapsed time.Duration) {
	rc := r.Retry
	if rc == nil {
		rc = &RetryConfig{}
	}
	return or(rc.Initial, DefaultRetryInitial), or(rc.Max, DefaultRetryMax), or(rc.MaxElapsed, DefaultRetryElapsed)
}

// Rate is the receiver's request rate limit; messages 0 means none. Slack
// allows about one message per second per channel and a WeCom robot 20 per
// minute; those are the defaults.
func (r *ReceiverConfig) Rate() (messages int, per time.Duration) {
	if r.RateLimit != nil {
		return r.RateLimit.Messages, r.RateLimit.Per.Std()
	}
	switch {
	case r.Slack != nil:
		return 1, time.Second
	case r.WeCom != nil:
		return 20, time.Minute
	}
	return 0, 0
}

package route

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
)

// Defaults, applied here and nowhere else.
const (
	DefaultGroupWait      = 30 * time.Second
	DefaultGroupInterval  = 5 * time.Minute
	DefaultRepeatInterval = 4 * time.Hour
	DefaultUpdateInterval = 10 * time.Second
	DefaultResolveTimeout = 24 * time.Hour
	DefaultTimeout        = 10 * time.Second
	DefaultRetryInitial   = time.Second
	DefaultRetryMax       = time.Minute
	DefaultRetryElapsed   = 15 * time.Minute
	DefaultWeComURL       = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"
	DefaultSlackAPIURL    = "https://slack.com/api/"
	// GroupByAll in group_by puts every alert in its own group.
	GroupByAll = "..."
)

// DefaultGroupBy groups alerts of one rule in one cluster.
var DefaultGroupBy = []string{"rule", "cluster"}

// Routing is a checked routing file, ready to use.
type Routing struct {
	File           string
	Root           *Route
	Receivers      []*ReceiverConfig
	Inhibit        []InhibitRule
	ResolveTimeout time.Duration
	// Location is time_zone (nil: UTC only); ExternalURL has no trailing /.
	Location    *time.Location
	ExternalURL string
}

// Route is a node of the compiled tree; every field is resolved (inherited
// or defaulted).
type Route struct {
	// ID is the route's position ("0", "0.2", "0.2.1"): part of group ids.
	ID             string
	Receiver       string
	Matchers       Matchers
	GroupBy        []string
	GroupByAll     bool
	GroupWait      time.Duration
	GroupInterval  time.Duration
	RepeatInterval time.Duration
	UpdateInterval time.Duration
	SendResolved   bool
	Continue       bool
	Routes         []*Route
}

// InhibitRule mutes target alerts while a matching source alert fires with
// the same values of Equal.
type InhibitRule struct {
	Source, Target Matchers
	Equal          []string
}

// Labels are what matchers and group_by see: the alert's labels plus rule
// and severity (unless the alert's labels set them).
func Labels(a *alert.Alert) map[string]string {
	out := make(map[string]string, len(a.Labels)+2)
	for k, v := range a.Labels {
		out[k] = v
	}
	if _, ok := out["rule"]; !ok {
		out["rule"] = a.Rule
	}
	if _, ok := out["severity"]; !ok {
		out["severity"] = a.Severity
	}
	return out
}

// Match returns the routes an alert with labels goes to, Alertmanager's
// way: depth first, the first matching child wins unless it says continue,
// and a node with no matching child takes the alert itself.
func (r *Route) Match(labels map[string]string) []*Route {
	if !r.Matchers.Matches(labels) {
		return nil
	}
	var all []*Route
	for _, c := range r.Routes {
		m := c.Match(labels)
		all = append(all, m...)
		if m != nil && !c.Continue {
			break
		}
	}
	if len(all) == 0 {
		all = append(all, r)
	}
	return all
}

// GroupLabels are the labels that name the alert's group on r.
func (r *Route) GroupLabels(labels map[string]string) map[string]string {
	if r.GroupByAll {
		return labels
	}
	out := make(map[string]string, len(r.GroupBy))
	for _, k := range r.GroupBy {
		if v, ok := labels[k]; ok {
			out[k] = v
		}
	}
	return out
}

// Receiver returns the named receiver's config.
func (r *Routing) Receiver(name string) *ReceiverConfig {
	for _, rc := range r.Receivers {
		if rc.Name == name {
			return rc
		}
	}
	return nil
}

// ReceiverNames lists the receivers, in file order.
func (r *Routing) ReceiverNames() []string {
	out := make([]string, len(r.Receivers))
	for i, rc := range r.Receivers {
		out[i] = rc.Name
	}
	return out
}

var receiverName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)

func (c *checker) compile(f *File) *Routing {
	out := &Routing{File: c.file, ResolveTimeout: or(f.ResolveTimeout, DefaultResolveTimeout)}
	if out.ResolveTimeout < time.Minute {
		c.bad([]any{"resolve_timeout"}, "resolve_timeout %s: must be at least 1m", out.ResolveTimeout)
	}
	out.Location, out.ExternalURL = c.presentation(f)
	names := map[string]bool{}
	for i := range f.Receivers {
		rc := &f.Receivers[i]
		c.checkReceiver([]any{"receivers", i}, rc, f.Defaults)
		if names[rc.Name] {
			c.bad([]any{"receivers", i, "name"}, "duplicate receiver %q", rc.Name)
		}
		names[rc.Name] = true
		out.Receivers = append(out.Receivers, rc)
	}
	if !names["console"] { // the console is always there
		out.Receivers = append(out.Receivers, &ReceiverConfig{Name: "console", Console: &ConsoleConfig{}})
		c.checkReceiver(nil, out.Receivers[len(out.Receivers)-1], f.Defaults)
		names["console"] = true
	}
	if f.Route == nil {
		c.bad(nil, "route: missing (the root of the routing tree)")
		return out
	}
	root := &Route{
		GroupBy: DefaultGroupBy, GroupWait: DefaultGroupWait, GroupInterval: DefaultGroupInterval,
		RepeatInterval: DefaultRepeatInterval, UpdateInterval: DefaultUpdateInterval, SendResolved: true,
	}
	if f.Route.Receiver == "" {
		c.bad([]any{"route"}, "route: the root needs a receiver")
	}
	if len(f.Route.Matchers) > 0 || f.Route.Continue {
		c.bad([]any{"route"}, "route: the root matches every alert; it takes no matchers or continue")
	}
	out.Root = c.route([]any{"route"}, f.Route, root, "0", names)
	for i, ir := range f.InhibitRules {
		p := []any{"inhibit_rules", i}
		src, err := ParseMatchers(ir.SourceMatchers)
		if err != nil {
			c.bad(with(p, "source_matchers"), "%v", err)
		}
		tgt, err := ParseMatchers(ir.TargetMatchers)
		if err != nil {
			c.bad(with(p, "target_matchers"), "%v", err)
		}
		if len(ir.SourceMatchers) == 0 || len(ir.TargetMatchers) == 0 {
			c.bad(p, "inhibit rule: needs source_matchers and target_matchers")
		}
		for j, l := range ir.Equal {
			if !labelName.MatchString(l) {
				c.bad(with(p, "equal", j), "invalid label name %q", l)
			}
		}
		out.Inhibit = append(out.Inhibit, InhibitRule{Source: src, Target: tgt, Equal: ir.Equal})
	}
	return out
}

func (c *checker) route(p []any, rc *RouteConfig, parent *Route, id string, receivers map[string]bool) *Route {
	r := &Route{
		ID: id, Receiver: parent.Receiver, GroupBy: parent.GroupBy, GroupByAll: parent.GroupByAll,
		GroupWait: or(rc.GroupWait, parent.GroupWait), GroupInterval: or(rc.GroupInterval, parent.GroupInterval),
		RepeatInterval: or(rc.RepeatInterval, parent.RepeatInterval), SendResolved: parent.SendResolved,
		Continue: rc.Continue,
	}
	if rc.Receiver != "" {
		r.Receiver = rc.Receiver
		if !receivers[rc.Receiver] {
			c.bad(with(p, "receiver"), "unknown receiver %q (have %s)", rc.Receiver, strings.Join(sortedKeys(receivers), ", "))
		}
	}
	if rc.SendResolved != nil {
		r.SendResolved = *rc.SendResolved
	}
	if rc.GroupBy != nil {
		r.GroupBy, r.GroupByAll = nil, false
		for i, l := range rc.GroupBy {
			switch {
			case l == GroupByAll:
				r.GroupByAll = true
			case !labelName.MatchString(l):
				c.bad(with(p, "group_by", i), "group_by: invalid label name %q", l)
			default:
				r.GroupBy = append(r.GroupBy, l)
			}
		}
		if r.GroupByAll && len(r.GroupBy) > 0 {
			c.bad(with(p, "group_by"), `group_by: "..." already groups by every label; list nothing else`)
		}
	}
	if r.GroupInterval <= 0 {
		c.bad(with(p, "group_interval"), "group_interval must be positive")
	}
	// Unset, it is the parent's, but never longer than group_interval.
	r.UpdateInterval = or(rc.UpdateInterval, min(parent.UpdateInterval, r.GroupInterval))
	if r.UpdateInterval <= 0 || r.UpdateInterval > r.GroupInterval {
		c.bad(with(p, "update_interval"), "update_interval %s: must be positive and at most group_interval %s", r.UpdateInterval, r.GroupInterval)
	}
	if r.RepeatInterval < r.GroupInterval {
		c.bad(with(p, "repeat_interval"), "repeat_interval %s is shorter than group_interval %s", r.RepeatInterval, r.GroupInterval)
	}
	for i, s := range rc.Matchers {
		m, err := ParseMatcher(s)
		if err != nil {
			c.bad(with(p, "matchers", i), "%v", err)
			continue
		}
		r.Matchers = append(r.Matchers, m)
	}
	for i, child := range rc.Routes {
		if child == nil {
			c.bad(with(p, "routes", i), "empty route")
			continue
		}
		r.Routes = append(r.Routes, c.route(with(p, "routes", i), child, r, fmt.Sprintf("%s.%d", id, i), receivers))
	}
	return r
}

func (c *checker) checkReceiver(p []any, rc *ReceiverConfig, d *ReceiverDefaultsYML) {
	if !receiverName.MatchString(rc.Name) {
		c.bad(with(p, "name"), "receiver name %q: use letters, digits, - and _", rc.Name)
	}
	n := 0
	for _, set := range []bool{rc.Console != nil, rc.Slack != nil, rc.WeCom != nil, rc.Webhook != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		c.bad(p, "receiver %q: set exactly one of console, slack, wecom, webhook", rc.Name)
		return
	}
	if d != nil {
		if rc.Timeout == nil {
			rc.Timeout = d.Timeout
		}
		if rc.Retry == nil {
			rc.Retry = d.Retry
		}
	}
	if rc.Timeout != nil && *rc.Timeout <= 0 {
		c.bad(with(p, "timeout"), "timeout must be positive")
	}
	if initial, maxWait, elapsed := rc.RetryBounds(); initial <= 0 || maxWait < initial || elapsed < initial {
		c.bad(with(p, "retry"), "retry: want 0 < initial <= max and initial <= max_elapsed (have %s, %s, %s)", initial, maxWait, elapsed)
	}
	if rc.RateLimit != nil && (rc.RateLimit.Messages <= 0 || rc.RateLimit.Per <= 0) {
		c.bad(with(p, "rate_limit"), "rate_limit: messages and per must be positive")
	}
	secret := func(field string, s *SecretRef, required bool) {
		if s == nil {
			if required {
				c.bad(with(p, rc.Kind()), "receiver %q: %s is required ({env: VAR} or {file: PATH})", rc.Name, field)
			}
			return
		}
		if err := s.check(); err != nil {
			c.bad(with(p, rc.Kind(), field), "receiver %q: %s: %v", rc.Name, field, err)
		}
	}
	switch {
	case rc.Slack != nil:
		s := rc.Slack
		if (s.WebhookURL == nil) == (s.Token == nil) {
			c.bad(with(p, "slack"), "receiver %q: set webhook_url or token (with channel), not both", rc.Name)
		}
		secret("webhook_url", s.WebhookURL, false)
		secret("token", s.Token, false)
		if s.Token != nil && s.Channel == "" {
			c.bad(with(p, "slack"), "receiver %q: a bot token needs a channel", rc.Name)
		}
		if s.WebhookURL != nil && s.Channel != "" {
			c.bad(with(p, "slack", "channel"), "receiver %q: an incoming webhook posts to its own channel; remove channel", rc.Name)
		}
		if s.APIURL == "" {
			s.APIURL = DefaultSlackAPIURL
		}
		if !strings.HasSuffix(s.APIURL, "/") {
			s.APIURL += "/"
		}
	case rc.WeCom != nil:
		secret("key", rc.WeCom.Key, true)
		if rc.WeCom.URL == "" {
			rc.WeCom.URL = DefaultWeComURL
		}
		if strings.Contains(rc.WeCom.URL, "key=") {
			c.bad(with(p, "wecom", "url"), "receiver %q: url must not hold the key; use key: {env: VAR}", rc.Name)
		}
	case rc.Webhook != nil:
		secret("url", rc.Webhook.URL, true)
		secret("hmac_secret", rc.Webhook.HMACSecret, false)
		if rc.Webhook.MaxAlerts < 0 {
			c.bad(with(p, "webhook", "max_alerts"), "max_alerts must not be negative")
		}
	}
}

// presentation checks time_zone and external_url.
func (c *checker) presentation(f *File) (*time.Location, string) {
	var loc *time.Location
	if f.TimeZone != "" {
		l, err := time.LoadLocation(f.TimeZone)
		if err != nil {
			c.bad([]any{"time_zone"}, "time_zone %q: %v (an IANA name such as Asia/Shanghai)", f.TimeZone, err)
		} else {
			loc = l
		}
	}
	ext := strings.TrimRight(f.ExternalURL, "/")
	if ext != "" {
		u, err := url.Parse(ext)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			c.bad([]any{"external_url"}, "external_url %q: want an absolute http(s) URL", f.ExternalURL)
			ext = ""
		}
	}
	return loc, ext
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// Package receivers builds the receivers a routing file names (console,
// Slack, WeCom, webhooks), with their secrets resolved, their rate limits
// shared per destination, and the team's presentation settings (time zone,
// external URL): what the dispatcher delivers to.
package receivers

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/notify/console"
	"github.com/aftershock/aftershock/internal/notify/slack"
	"github.com/aftershock/aftershock/internal/notify/webhook"
	"github.com/aftershock/aftershock/internal/notify/wecom"
	"github.com/aftershock/aftershock/internal/route"
)

// Deps are what building receivers takes from the process.
type Deps struct {
	Console io.Writer
	// Getenv reads secrets named {env: VAR} (default os.Getenv).
	Getenv func(string) string
	// Transport carries receivers' HTTP requests (default
	// http.DefaultTransport); tests point it at fakes.
	Transport http.RoundTripper
}

// How many group messages may merge into one digest when a rate-limited
// receiver falls behind: a Slack message holds 50 blocks, a WeCom digest is
// split into 4 KB parts anyway.
const (
	// SlackEditsPerMinute paces chat.update per workspace (Tier 3).
	SlackEditsPerMinute = 50
	SlackCoalesce       = 20
	WeComCoalesce       = 50
	// SlackParallel messages may be in flight to one Slack receiver whose
	// rate limit allows ParallelFrom a second or more (Slack's own limit,
	// one a second per channel, does not): the round trip is then what
	// limits delivery, and different groups' messages may overlap. Below
	// that, more senders would only hold digests waiting on the limiter
	// ahead of a critical page that comes later.
	SlackParallel = 4
	ParallelFrom  = 20
)

// Build builds every receiver of the routing file, resolving its
// secrets. Every problem is reported, naming the receiver; secret values
// never appear in errors.
func Build(r *route.Routing, deps Deps) ([]dispatch.Target, error) {
	if deps.Getenv == nil {
		deps.Getenv = os.Getenv
	}
	if deps.Console == nil {
		deps.Console = os.Stdout
	}
	if deps.Transport == nil {
		deps.Transport = http.DefaultTransport
	}
	limiters := map[string]*notify.WindowLimiter{}
	limiter := func(dest string, rc *route.ReceiverConfig) notify.Limiter {
		n, per := rc.Rate()
		key := fmt.Sprintf("%s|%d|%s", dest, n, per)
		l, ok := limiters[key]
		if !ok {
			l = notify.NewWindowLimiter(n, per)
			limiters[key] = l
		}
		if l == nil {
			return nil
		}
		return l
	}
	// chat.update is Slack's Tier 3 (about 50 a minute per method and
	// workspace), apart from chat.postMessage's one a second per channel.
	editLimiter := func(token string) notify.Limiter {
		if token == "" {
			return nil
		}
		l, ok := limiters["slack-edit:"+token]
		if !ok {
			l = notify.NewWindowLimiter(SlackEditsPerMinute, time.Minute)
			limiters["slack-edit:"+token] = l
		}
		return l
	}
	var out []dispatch.Target
	present := brief.Options{Clock: brief.Clock{Loc: r.Location}, ExternalURL: r.ExternalURL}
	var errs []error
	for _, rc := range r.Receivers {
		initial, maxWait, elapsed := rc.RetryBounds()
		t := dispatch.Target{Backoff: notify.Backoff{Initial: initial, Max: maxWait, MaxElapsed: elapsed}, Coalesce: 1, Drills: rc.TakesDrills()}
		client := &http.Client{Transport: deps.Transport, Timeout: rc.RequestTimeout()}
		secret := func(field string, ref *route.SecretRef) string {
			if ref == nil {
				return ""
			}
			s, err := ref.Resolve(deps.Getenv)
			if err != nil {
				errs = append(errs, fmt.Errorf("receiver %s: %s: %w", rc.Name, field, err))
			}
			return s.Reveal()
		}
		var err error
		before := len(errs)
		switch {
		case rc.Console != nil:
			t.Receiver = console.New(rc.Name, deps.Console, present)
		case rc.Webhook != nil:
			url := secret("url", rc.Webhook.URL)
			t.Receiver, err = webhook.New(webhook.Options{
				Name: rc.Name, URL: url, HMACSecret: secret("hmac_secret", rc.Webhook.HMACSecret),
				MaxAlerts: rc.Webhook.MaxAlerts, Client: client, Limiter: limiter("webhook:"+url, rc), ExternalURL: r.ExternalURL,
			})
		case rc.Slack != nil:
			c := rc.Slack
			hook, token := secret("webhook_url", c.WebhookURL), secret("token", c.Token)
			dest := "slack:" + hook + token + "#" + c.Channel // Slack's limit is per channel
			t.Coalesce = SlackCoalesce
			if n, per := rc.Rate(); per > 0 && float64(n)/per.Seconds() >= ParallelFrom {
				t.Parallel = SlackParallel
			}
			t.Receiver, err = slack.New(slack.Options{
				Name: rc.Name, WebhookURL: hook, Token: token, Channel: c.Channel, APIURL: c.APIURL,
				Client: client, Limiter: limiter(dest, rc), Brief: present, EditLimiter: editLimiter(token),
			})
		case rc.WeCom != nil:
			c := rc.WeCom
			key := secret("key", c.Key)
			t.Coalesce = WeComCoalesce
			l, _ := limiter("wecom:"+c.URL+key, rc).(*notify.WindowLimiter)
			t.Receiver, err = wecom.New(wecom.Options{
				Name: rc.Name, URL: c.URL, Key: key, MentionMobiles: c.MentionMobiles, Client: client, Limiter: l, Brief: present,
			})
		default:
			err = fmt.Errorf("unknown receiver kind")
		}
		if len(errs) > before {
			continue // a secret is missing: that error says it all
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("receiver %s: %w", rc.Name, err))
			continue
		}
		out = append(out, t)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// Package slack posts notifications to Slack with slack-go: through an
// incoming webhook, or with a bot token (chat.postMessage) so that updates
// and resolve notices go into the alert group's thread.
package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/slack-go/slack"

	"github.com/aftershock/aftershock/internal/notify"
)

// Options configure a Slack receiver: WebhookURL, or Token and Channel.
type Options struct {
	Name       string
	WebhookURL string // secret
	Token      string // secret
	Channel    string
	// APIURL is https://slack.com/api/ unless a proxy or a test says
	// otherwise.
	APIURL  string
	Client  *http.Client
	Limiter notify.Limiter
}

// Slack is a Slack receiver.
type Slack struct {
	o   Options
	api *slack.Client
}

var _ notify.Receiver = (*Slack)(nil)

// New checks o and returns a receiver.
func New(o Options) (*Slack, error) {
	switch {
	case o.Name == "":
		return nil, errors.New("slack: name is required")
	case (o.WebhookURL == "") == (o.Token == ""):
		return nil, errors.New("slack: set a webhook URL or a token, not both")
	case o.Token != "" && o.Channel == "":
		return nil, errors.New("slack: a bot token needs a channel")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	s := &Slack{o: o}
	if o.Token != "" {
		opts := []slack.Option{slack.OptionHTTPClient(o.Client)} // slack-go retries nothing: notify.Backoff does
		if o.APIURL != "" {
			opts = append(opts, slack.OptionAPIURL(o.APIURL))
		}
		s.api = slack.New(o.Token, opts...)
	}
	return s, nil
}

// Name implements notify.Receiver.
func (s *Slack) Name() string { return s.o.Name }

// Send implements notify.Receiver. With a bot token, a single group message
// whose group already has a thread is posted in it; anything else is a new
// top-level message whose ts becomes the group's thread.
func (s *Slack) Send(ctx context.Context, n *notify.Notification) (string, error) {
	blocks, fallback := Blocks(n)
	if s.o.Limiter != nil {
		if err := s.o.Limiter.Wait(ctx); err != nil {
			return "", err
		}
	}
	if s.api == nil {
		err := slack.PostWebhookCustomHTTPContext(ctx, s.o.WebhookURL, s.o.Client, &slack.WebhookMessage{
			Text: fallback, Blocks: &slack.Blocks{BlockSet: blocks},
		})
		return "", notify.Redact(classify(err), s.o.WebhookURL, s.o.Token)
	}
	opts := []slack.MsgOption{slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(fallback, false)}
	thread := ""
	if len(n.Messages) == 1 {
		thread = n.Messages[0].Ref
	}
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
	}
	_, ts, err := s.api.PostMessageContext(ctx, s.o.Channel, opts...)
	if err != nil {
		return "", notify.Redact(classify(err), s.o.WebhookURL, s.o.Token)
	}
	if thread != "" {
		return thread, nil
	}
	return ts, nil
}

// RetryableStatus is Slack's HTTP table: 429 and 5xx are worth retrying;
// 400 invalid_payload, 403 action_prohibited, 404 channel_not_found, 410
// channel_is_archived and the rest are not.
func RetryableStatus(code int) bool {
	return code == http.StatusTooManyRequests || code >= 500
}

// RetryableAPIError is Slack's table for ok:false answers: only errors
// that say Slack itself is busy or failing are retried.
func RetryableAPIError(code string) bool {
	switch code {
	case "ratelimited", "rate_limited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
		return true
	}
	return false
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	var rl *slack.RateLimitedError
	var sc slack.StatusCodeError
	var api slack.SlackErrorResponse
	switch {
	case errors.As(err, &rl):
		return notify.Transient("http 429", rl.RetryAfter, err)
	case errors.As(err, &sc):
		reason := fmt.Sprintf("http %d", sc.Code)
		if RetryableStatus(sc.Code) {
			return notify.Transient(reason, 0, err)
		}
		return notify.Permanent(reason, err)
	case errors.As(err, &api):
		if RetryableAPIError(api.Err) {
			return notify.Transient("slack "+api.Err, 0, err)
		}
		return notify.Permanent("slack "+api.Err, err)
	}
	return notify.Transient("transport", 0, err)
}

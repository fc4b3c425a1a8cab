// Package slack posts notifications to Slack with slack-go: through an
// incoming webhook (every message is a new one), or with a bot token, so
// that a group's first message stays its one place: it is edited in place
// as the incident grows (chat.update), and news (a crash's cause found, a
// resolve, a reminder) is told in its thread, the cause also in the
// channel.
package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/aftershock/aftershock/internal/brief"
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
	// EditLimiter paces chat.update, which Slack limits apart from posts
	// (Tier 3, about 50 a minute); nil: not paced.
	EditLimiter notify.Limiter
	// Brief is how messages show times and link alert pages.
	Brief brief.Options
}

// Slack is a Slack receiver.
type Slack struct {
	o   Options
	r   Renderer
	api *slack.Client
}

var (
	_ notify.Receiver = (*Slack)(nil)
	_ notify.Editor   = (*Slack)(nil)
)

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
	s := &Slack{o: o, r: Renderer{Brief: o.Brief}}
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

// EditsInPlace implements notify.Editor: with a bot token, yes.
func (s *Slack) EditsInPlace() bool { return s.api != nil }

// Send implements notify.Receiver. An incoming webhook posts every
// notification as a new message. With a bot token, a group's first message
// is posted to the channel and its reference ("<channel id>/<ts>") kept;
// later messages of the group edit it to show the group as it is now, and
// say what is new in its thread (see steps).
func (s *Slack) Send(ctx context.Context, n *notify.Notification) (string, error) {
	if s.api == nil {
		blocks, fallback := s.r.Blocks(n)
		if err := s.wait(ctx); err != nil {
			return "", err
		}
		err := slack.PostWebhookCustomHTTPContext(ctx, s.o.WebhookURL, s.o.Client, &slack.WebhookMessage{
			Text: fallback, Blocks: &slack.Blocks{BlockSet: blocks},
		})
		return "", notify.Redact(classify(err), s.o.WebhookURL, s.o.Token)
	}
	if len(n.Messages) != 1 || n.Messages[0].Ref == "" {
		blocks, fallback := s.r.Blocks(n)
		channel, ts, err := s.post(ctx, "", false, blocks, fallback)
		if err != nil || len(n.Messages) != 1 {
			return "", err // a digest starts no thread
		}
		return channel + "/" + ts, nil
	}
	m := n.Messages[0]
	channel, ts := s.parseRef(m.Ref)
	steps := s.steps(m)
	for _, st := range steps {
		if n.Sent > st.n {
			continue // done before a retry
		}
		var err error
		if st.edit {
			blocks, fallback := s.r.MessageBlocks(m, false)
			err = s.update(ctx, channel, ts, blocks, fallback)
			if retry, _, _ := notify.Classify(err); err != nil && !retry && len(steps) > 1 {
				// The first message cannot be edited (deleted, or a
				// reference from an older router): the thread told the
				// news.
				err = nil
			}
		} else {
			_, _, err = s.post(ctx, ts, st.broadcast, st.blocks, st.fallback)
		}
		if err != nil {
			return "", err
		}
		n.Sent = st.n + 1
	}
	return m.Ref, nil
}

// step is one request of a threaded message.
type step struct {
	n         int
	edit      bool // chat.update the group's first message
	blocks    []slack.Block
	fallback  string
	broadcast bool // also show the thread reply in the channel
}

// steps are the requests that tell m in its group's thread: news, new
// alerts, resolves and reminders are replies, sent first (they are what
// notifies people); then the first message is edited to show the group as
// it is now, for every kind but a reminder. The cause of a crash, and a
// new critical alert, are broadcast to the channel as well: an edit of a
// message read an hour ago notifies nobody.
func (s *Slack) steps(m *notify.Message) []step {
	var out []step
	if blocks, fallback, broadcast := s.r.ThreadBlocks(m); len(blocks) > 0 {
		out = append(out, step{n: len(out), blocks: blocks, fallback: fallback, broadcast: broadcast})
	}
	if m.Kind != notify.KindRepeat {
		out = append(out, step{n: len(out), edit: true})
	}
	return out
}

func (s *Slack) wait(ctx context.Context) error {
	if s.o.Limiter != nil {
		return s.o.Limiter.Wait(ctx)
	}
	return nil
}

func (s *Slack) post(ctx context.Context, thread string, broadcast bool, blocks []slack.Block, fallback string) (channel, ts string, err error) {
	if err := s.wait(ctx); err != nil {
		return "", "", err
	}
	opts := []slack.MsgOption{slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(fallback, false)}
	if thread != "" {
		opts = append(opts, slack.MsgOptionTS(thread))
		if broadcast {
			opts = append(opts, slack.MsgOptionBroadcast())
		}
	}
	channel, ts, err = s.api.PostMessageContext(ctx, s.o.Channel, opts...)
	return channel, ts, notify.Redact(classify(err), s.o.WebhookURL, s.o.Token)
}

func (s *Slack) update(ctx context.Context, channel, ts string, blocks []slack.Block, fallback string) error {
	if s.o.EditLimiter != nil {
		if err := s.o.EditLimiter.Wait(ctx); err != nil {
			return err
		}
	}
	_, _, _, err := s.api.UpdateMessageContext(ctx, channel, ts, slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(fallback, false))
	return notify.Redact(classify(err), s.o.WebhookURL, s.o.Token)
}

// parseRef splits "<channel id>/<ts>"; a bare ts (stored by an older
// router) is in the configured channel.
func (s *Slack) parseRef(ref string) (channel, ts string) {
	if c, t, ok := strings.Cut(ref, "/"); ok {
		return c, t
	}
	return s.o.Channel, ref
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

// Package wecom posts notifications to a WeCom (企业微信) group robot:
// markdown messages of at most 4096 bytes, split on line and character
// boundaries, and a text message that @-mentions people when a critical
// alert is new to its group (not for its updates). WeCom answers HTTP 200 with an errcode, classified here.
package wecom

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/notify"
)

// DefaultURL is the robot endpoint; the key is added as ?key=.
const DefaultURL = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send"

// WeCom errcodes that matter.
const (
	ErrOK          = 0
	ErrBusy        = -1    // system busy
	ErrRateLimit   = 45009 // api freq out of limit: the robot's 20/min are used up
	ErrTooLong     = 40058 // content exceeds the limit
	ErrInvalidKey  = 93000 // invalid webhook url (the key)
	ErrRobotBanned = 93004 // robot disabled
	ErrNotInGroup  = 93008 // robot removed from the chat
)

// RateLimitWait is the least wait after a 45009: the robot counts per
// minute and others may share it, so our own pacing is not enough.
const RateLimitWait = 15 * time.Second

// Options configure a WeCom robot receiver.
type Options struct {
	Name string
	URL  string // without the key
	Key  string // secret
	// MentionMobiles are @-mentioned in a text message for critical
	// alerts ("@all" for everyone); none: no text message.
	MentionMobiles []string
	Client         *http.Client
	// Limiter paces requests (20/min per robot); its Delay sets the wait
	// after a 45009.
	Limiter *notify.WindowLimiter
	// Brief is how messages show times and link alert pages.
	Brief brief.Options
}

// WeCom is a group robot receiver.
type WeCom struct {
	o       Options
	r       Renderer
	sendURL string
}

var _ notify.Receiver = (*WeCom)(nil)

// New checks o and returns a receiver.
func New(o Options) (*WeCom, error) {
	if o.Name == "" || o.Key == "" {
		return nil, errors.New("wecom: name and key are required")
	}
	if o.URL == "" {
		o.URL = DefaultURL
	}
	u, err := url.Parse(o.URL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("wecom: url %q: want an absolute URL", o.URL)
	}
	q := u.Query()
	q.Set("key", o.Key)
	u.RawQuery = q.Encode()
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &WeCom{o: o, r: Renderer{Brief: o.Brief}, sendURL: u.String()}, nil
}

// Name implements notify.Receiver.
func (w *WeCom) Name() string { return w.o.Name }

type part struct {
	MsgType  string    `json:"msgtype"`
	Markdown *content  `json:"markdown,omitempty"`
	Text     *textBody `json:"text,omitempty"`
}

type content struct {
	Content string `json:"content"`
}

type textBody struct {
	Content             string   `json:"content"`
	MentionedMobileList []string `json:"mentioned_mobile_list,omitempty"`
}

// plan is the list of requests of one notification, kept in
// Notification.Scratch so a retry resumes and a 40058 re-splits.
type plan struct{ parts []part }

func (w *WeCom) plan(n *notify.Notification) *plan {
	if p, ok := n.Scratch.(*plan); ok {
		return p
	}
	p := &plan{}
	for _, c := range Split(w.r.Markdown(n), MaxMarkdownBytes) {
		p.parts = append(p.parts, part{MsgType: "markdown", Markdown: &content{c}})
	}
	if len(w.o.MentionMobiles) > 0 {
		if page := w.r.Page(n); page != "" {
			p.parts = append(p.parts, part{MsgType: "text", Text: &textBody{Content: page, MentionedMobileList: w.o.MentionMobiles}})
		}
	}
	n.Scratch = p
	return p
}

// Send implements notify.Receiver: one request per part, resuming after
// n.Sent.
func (w *WeCom) Send(ctx context.Context, n *notify.Notification) (string, error) {
	p := w.plan(n)
	for n.Sent < len(p.parts) {
		err := w.post(ctx, p.parts[n.Sent])
		var e *notify.Error
		if errors.As(err, &e) && e.Reason == fmt.Sprintf("errcode %d", ErrTooLong) {
			if !p.resplit(n.Sent) {
				return "", notify.Permanent(e.Reason, errors.New("content still too long after splitting"))
			}
		}
		if err != nil {
			return "", notify.Redact(err, w.o.Key, w.sendURL)
		}
		n.Sent++
	}
	return "", nil
}

// resplit halves part i after WeCom said it was too long.
func (p *plan) resplit(i int) bool {
	pt := p.parts[i]
	var c string
	if pt.Markdown != nil {
		c = pt.Markdown.Content
	} else {
		c = pt.Text.Content
	}
	if len(c) < 64 {
		return false
	}
	halves := notify.SplitBytes(c, (len(c)+1)/2+3)
	var repl []part
	for _, h := range halves {
		np := pt
		if pt.Markdown != nil {
			np.Markdown = &content{h}
		} else {
			np.Text = &textBody{Content: h, MentionedMobileList: pt.Text.MentionedMobileList}
		}
		repl = append(repl, np)
	}
	p.parts = append(p.parts[:i], append(repl, p.parts[i+1:]...)...)
	return true
}

func (w *WeCom) post(ctx context.Context, pt part) error {
	if w.o.Limiter != nil {
		if err := w.o.Limiter.Wait(ctx); err != nil {
			return err
		}
	}
	body, err := json.Marshal(pt)
	if err != nil {
		return notify.Permanent("encode", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.sendURL, bytes.NewReader(body))
	if err != nil {
		return notify.Permanent("bad url", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return notify.Transient("transport", 0, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if resp.StatusCode != http.StatusOK {
		return notify.StatusError(resp, notify.RetryableStatus, string(raw), time.Now())
	}
	var r struct {
		ErrCode *int   `json:"errcode"`
		ErrMsg  string `json:"errmsg"`
	}
	if err := json.Unmarshal(raw, &r); err != nil || r.ErrCode == nil {
		return notify.Transient("bad reply", 0, fmt.Errorf("not a WeCom answer: %q", notify.Truncate(string(raw), 200, "…")))
	}
	return w.classify(*r.ErrCode, r.ErrMsg)
}

// Retryable is the errcode table: busy, rate limited and too long (after
// a re-split) are retried; a bad key, a banned or removed robot and
// anything unknown are not.
func Retryable(code int) bool {
	switch code {
	case ErrBusy, ErrRateLimit, ErrTooLong:
		return true
	}
	return false
}

func (w *WeCom) classify(code int, msg string) error {
	if code == ErrOK {
		return nil
	}
	reason := fmt.Sprintf("errcode %d", code)
	err := errors.New(notify.Truncate(msg, 200, "…"))
	if !Retryable(code) {
		return notify.Permanent(reason, err)
	}
	var after time.Duration
	if code == ErrRateLimit {
		after = max(w.o.Limiter.Delay(), RateLimitWait)
	}
	return notify.Transient(reason, after, err)
}

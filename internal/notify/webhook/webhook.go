// Package webhook posts notifications as Alertmanager-shaped JSON (webhook
// version 4, see notify.Payload), optionally signed with HMAC-SHA256.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/aftershock/aftershock/internal/notify"
)

// Signature headers: the timestamp is signed with the body so a captured
// request cannot be replayed later.
const (
	HeaderTimestamp = "X-Aftershock-Timestamp"
	HeaderSignature = "X-Aftershock-Signature"
)

// Options configure a webhook receiver.
type Options struct {
	Name       string
	URL        string // a secret: never printed
	HMACSecret string // optional
	MaxAlerts  int
	Client     *http.Client
	Limiter    notify.Limiter // optional
	// ExternalURL is the router's web address (routing's external_url):
	// externalURL and each alert's generatorURL link there.
	ExternalURL string
}

// Webhook is a generic webhook receiver.
type Webhook struct {
	o Options
}

var _ notify.Receiver = (*Webhook)(nil)

// New checks o and returns a receiver.
func New(o Options) (*Webhook, error) {
	if o.Name == "" || o.URL == "" {
		return nil, errors.New("webhook: name and url are required")
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 10 * time.Second}
	}
	return &Webhook{o: o}, nil
}

// Name implements notify.Receiver.
func (w *Webhook) Name() string { return w.o.Name }

// Retryable is the webhook's status table: the common one (408, 425, 429
// and 5xx retry; other statuses are permanent).
func Retryable(code int) bool { return notify.RetryableStatus(code) }

// Send posts each message of n as one request, resuming after n.Sent.
func (w *Webhook) Send(ctx context.Context, n *notify.Notification) (string, error) {
	for ; n.Sent < len(n.Messages); n.Sent++ {
		p := notify.NewPayload(n.Messages[n.Sent], w.o.MaxAlerts)
		p.SetExternalURL(w.o.ExternalURL)
		body, err := json.Marshal(p)
		if err != nil {
			return "", notify.Permanent("encode", err)
		}
		if err := w.post(ctx, body); err != nil {
			return "", notify.Redact(err, w.o.URL, w.o.HMACSecret)
		}
	}
	return "", nil
}

func (w *Webhook) post(ctx context.Context, body []byte) error {
	if w.o.Limiter != nil {
		if err := w.o.Limiter.Wait(ctx); err != nil {
			return err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.o.URL, bytes.NewReader(body))
	if err != nil {
		return notify.Permanent("bad url", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "aftershock")
	if w.o.HMACSecret != "" {
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		req.Header.Set(HeaderTimestamp, ts)
		req.Header.Set(HeaderSignature, Sign(w.o.HMACSecret, ts, body))
	}
	resp, err := w.o.Client.Do(req)
	if err != nil {
		return notify.Transient("transport", 0, err)
	}
	defer resp.Body.Close()
	excerpt, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	return notify.StatusError(resp, Retryable, string(excerpt), time.Now())
}

// Sign returns the signature header value: "sha256=" and the hex HMAC-SHA256
// of timestamp, ".", body.
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks a request's signature headers against body, rejecting
// timestamps further than tolerance from now. Consumers written in Go can
// use it as is; docs/notifications.md shows the same check in shell.
func Verify(secret string, h http.Header, body []byte, now time.Time, tolerance time.Duration) error {
	ts := h.Get(HeaderTimestamp)
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("verify webhook: bad %s %q", HeaderTimestamp, ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("verify webhook: timestamp %s off by %s", ts, d)
	}
	if !hmac.Equal([]byte(h.Get(HeaderSignature)), []byte(Sign(secret, ts, body))) {
		return errors.New("verify webhook: signature mismatch")
	}
	return nil
}

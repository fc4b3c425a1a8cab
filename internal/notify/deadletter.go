package notify

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aftershock/aftershock/internal/outbox"
)

// Dead-letter headers: the one set every dead letter carries (package
// outbox).
const (
	HeaderReason   = outbox.HeaderReason
	HeaderReceiver = outbox.HeaderReceiver
	HeaderAttempts = outbox.HeaderAttempts
)

// DeadLetterSubject is where undeliverable notifications of a receiver go;
// the DLQ stream captures dlq.>.
func DeadLetterSubject(receiver string) string { return "dlq.notify." + receiver }

// Publisher is the part of jetstream.JetStream dead letters need.
type Publisher = outbox.Publisher

// DeadLetter is the body of a dead letter: why, and the messages as the
// webhook receiver would have sent them, so they can be replayed.
type DeadLetter struct {
	Receiver string     `json:"receiver"`
	Reason   string     `json:"reason"`
	Error    string     `json:"error"`
	Attempts int        `json:"attempts"`
	At       time.Time  `json:"at"`
	Messages []*Payload `json:"messages"`
}

// DeadLetters stores undeliverable notifications on dlq.notify.<receiver>,
// logs them and prints a notice on the console: nothing fails silently.
type DeadLetters struct {
	js      Publisher
	log     *slog.Logger
	mu      sync.Mutex
	console io.Writer
	// giveUp bounds the retries of one dead letter's publish.
	giveUp time.Duration
}

var _ DeadLetterer = (*DeadLetters)(nil)

// NewDeadLetters publishes with js and prints notices on console.
func NewDeadLetters(js Publisher, console io.Writer, log *slog.Logger) *DeadLetters {
	return &DeadLetters{js: js, console: console, log: log, giveUp: 24 * time.Hour}
}

// DeadLetter implements DeadLetterer. It retries the publish until it is
// stored or ctx ends.
func (d *DeadLetters) DeadLetter(ctx context.Context, n *Notification, cause error, attempts int) error {
	_, _, reason := Classify(cause)
	dl := DeadLetter{Receiver: n.Receiver, Reason: reason, Error: cause.Error(), Attempts: attempts, At: time.Now().UTC()}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00", n.Receiver)
	for _, m := range n.Messages {
		dl.Messages = append(dl.Messages, NewPayload(m, 0))
		fmt.Fprintf(h, "%s\x00", m.GroupID)
		for _, a := range m.Alerts() {
			fmt.Fprintf(h, "%s\x00", a.ID)
		}
	}
	body, err := json.Marshal(dl)
	if err != nil {
		return fmt.Errorf("encode dead letter: %w", err)
	}
	l := outbox.Letter{
		Subject: DeadLetterSubject(n.Receiver), ID: "dlq-notify-" + hex.EncodeToString(h.Sum(nil)[:12]), Data: body,
		Reason: reason + ": " + cause.Error(),
		Header: map[string]string{HeaderReceiver: n.Receiver, HeaderAttempts: fmt.Sprint(attempts)},
	}
	ctx, cancel := context.WithTimeout(ctx, d.giveUp)
	defer cancel()
	if err := outbox.DeadLetter(ctx, d.js, l, 0, outbox.DefaultRetry, func(err error) {
		d.log.Warn("dead letter publish failed; retrying", "receiver", n.Receiver, "err", err)
	}); err != nil {
		return fmt.Errorf("publish dead letter for %s: %w", n.Receiver, err)
	}
	d.log.Error("notification dead-lettered", "receiver", n.Receiver, "subject", l.Subject,
		"alerts", n.Alerts(), "attempts", attempts, "reason", reason, "err", cause)
	d.notice(n, reason, cause, attempts)
	return nil
}

func (d *DeadLetters) notice(n *Notification, reason string, cause error, attempts int) {
	if d.console == nil {
		return
	}
	var b strings.Builder
	fmt.Fprintf(&b, "!!! DEAD LETTER: receiver %s gave up after %d attempt(s): %s (%v)\n", n.Receiver, attempts, reason, cause)
	for _, m := range n.Messages {
		for _, a := range m.Alerts() {
			fmt.Fprintf(&b, "    not delivered: %s\n", a.Title())
		}
	}
	fmt.Fprintf(&b, "    stored on %s; see docs/notifications.md to replay\n", DeadLetterSubject(n.Receiver))
	d.mu.Lock()
	defer d.mu.Unlock()
	_, _ = io.WriteString(d.console, b.String())
}

package lane

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/outbox"
)

// Sender stores items in order and says when they are (outbox.Outbox).
type Sender interface {
	Send(ctx context.Context, items []outbox.Item, done func([]error)) bool
	Flush(ctx context.Context) error
}

// Alerts publishes alerts to ALERTS through an outbox, with their ids as
// Nats-Msg-Id (a replay after a crash stores nothing twice), and counts
// those stored.
type Alerts struct {
	Out Sender
	// Published counts stored alerts by state and timeline (live, drill).
	Published *prometheus.CounterVec
	Log       *slog.Logger
}

// Send queues alerts; done (may be nil) runs once each is stored or
// dead-lettered, on the outbox's goroutine. It returns false, and done
// never runs, when ctx ends while the outbox is full, or it is closing.
func (s *Alerts) Send(ctx context.Context, alerts []*alert.Alert, done func()) bool {
	items := make([]outbox.Item, 0, len(alerts))
	sent := make([]*alert.Alert, 0, len(alerts))
	for _, a := range alerts {
		b, err := a.Encode()
		if err != nil { // a template produced something JSON cannot hold
			s.Log.Error("alert not encodable; dropped", "alert", a.ID, "rule", a.Rule, "err", err)
			continue
		}
		items = append(items, outbox.Item{Subject: a.Subject(), Data: b, ID: a.ID})
		sent = append(sent, a)
	}
	return s.Out.Send(ctx, items, func(errs []error) {
		for i, err := range errs {
			if err == nil {
				s.Published.WithLabelValues(string(sent[i].State), Timeline(sent[i].Drill)).Inc()
			}
		}
		if done != nil {
			done()
		}
	})
}

// Timeline names the timeline of an alert or event: live or drill.
func Timeline(drill bool) string {
	if drill {
		return "drill"
	}
	return "live"
}

// Package notify delivers alerts to people. Each receiver builds its request
// and classifies its failures; delivery plumbing lives here, once.
package notify

import (
	"context"

	"github.com/aftershock/aftershock/internal/alert"
)

// Notifier delivers one alert to one receiver.
type Notifier interface {
	// Name is the receiver name used in routing and metrics.
	Name() string
	Notify(ctx context.Context, a *alert.Alert) error
}

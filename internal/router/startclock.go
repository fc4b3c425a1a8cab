package router

import (
	"log/slog"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// startClock times the phases of a start: where the time to ready goes
// (rules, connection and provisioning, web views, notifier, windows
// rebuilt, consuming). It is logged once ready and exported as
// aftershock_router_start_seconds{phase}.
type startClock struct {
	begin, last time.Time
	phases      []startPhase
}

type startPhase struct {
	name string
	took time.Duration
}

func newStartClock() *startClock {
	now := time.Now()
	return &startClock{begin: now, last: now}
}

// lap ends phase name.
func (c *startClock) lap(name string) {
	now := time.Now()
	c.phases = append(c.phases, startPhase{name, now.Sub(c.last)})
	c.last = now
}

// report logs and exports the phases.
func (c *startClock) report(log *slog.Logger, reg prometheus.Registerer) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aftershock_router_start_seconds",
		Help: "How long each phase of the last start took (phase total: start to ready).",
	}, []string{"phase"})
	reg.MustRegister(g)
	var b strings.Builder
	for _, p := range c.phases {
		g.WithLabelValues(p.name).Set(p.took.Seconds())
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(p.name + "=" + p.took.Round(time.Millisecond).String())
	}
	total := time.Since(c.begin)
	g.WithLabelValues("total").Set(total.Seconds())
	log.Info("router ready", "took", total.Round(time.Millisecond).String(), "phases", b.String())
}

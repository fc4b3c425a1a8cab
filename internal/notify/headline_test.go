package notify_test

import (
	"testing"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/notify"
)

func TestHeadlineIcon(t *testing.T) {
	mk := func(sev string, st alert.State) *alert.Alert {
		return &alert.Alert{Rule: "r-" + sev, Severity: sev, State: st, Fingerprint: sev + string(st), Headline: sev + " thing"}
	}
	tests := []struct {
		name string
		m    *notify.Message
		want string
	}{
		{"critical page", &notify.Message{Kind: notify.KindPage, Firing: []*alert.Alert{mk("critical", alert.Firing)}}, "🔥 CRITICAL · critical thing"},
		{"warning page", &notify.Message{Kind: notify.KindPage, Firing: []*alert.Alert{mk("warning", alert.Firing)}}, "⚠️ WARNING · warning thing"},
		{"info page", &notify.Message{Kind: notify.KindPage, Firing: []*alert.Alert{mk("info", alert.Firing)}}, "ℹ️ INFO · info thing"},
		{"a group takes its worst", &notify.Message{Kind: notify.KindPage, Firing: []*alert.Alert{mk("info", alert.Firing), mk("warning", alert.Firing)}},
			"⚠️ 2 alerts · r-info, r-warning"},
		{"resolved", &notify.Message{Kind: notify.KindResolved, Resolved: []*alert.Alert{mk("critical", alert.Resolved)}}, "✅ RESOLVED · critical thing"},
		{"drill", &notify.Message{Kind: notify.KindPage, Drill: true, Firing: []*alert.Alert{mk("critical", alert.Firing)}}, "[DRILL] 🔥 CRITICAL · critical thing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.m.Headline(brief.Options{}); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

package dispatch_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/notify/notifytest"
	"github.com/aftershock/aftershock/internal/route"
)

// BenchmarkIngest is the lifecycle loop alone: each op is one new alert
// routed into its own group (group_wait 0) and handed to a receiver that
// records it; state goes to the in-memory store.
func BenchmarkIngest(b *testing.B) {
	r, probs := route.Parse("routing.yaml", []byte("route:\n  receiver: oncall\n  group_by: [\"...\"]\n  group_wait: 0s\nreceivers:\n  - name: oncall\n    webhook: {url: {env: X}}\n"))
	if len(probs) > 0 {
		b.Fatal(probs)
	}
	recv := notifytest.NewReceiver("oncall")
	d, err := dispatch.New(dispatch.Options{Routing: r, Store: dispatch.NewMemoryStore(), Targets: []dispatch.Target{
		{Receiver: recv, Coalesce: 50, Backoff: notify.Backoff{Initial: time.Millisecond, Max: time.Millisecond, MaxElapsed: time.Second}},
		{Receiver: notifytest.NewReceiver("console"), Coalesce: 1},
	}})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	base := time.Now()
	done := make(chan struct{}, 1024)
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		fp := alert.Fingerprint("bench", strconv.Itoa(i))
		a := &alert.Alert{ID: alert.MakeID(fp, base, alert.Firing), Fingerprint: fp, Rule: "bench", Severity: "critical",
			State: alert.Firing, Labels: map[string]string{"cluster": "c", "node": "n"}, Summary: "x", StartsAt: base, CreatedAt: time.Now()}
		d.Ingest(a, func(error) { done <- struct{}{} })
		<-done
	}
}

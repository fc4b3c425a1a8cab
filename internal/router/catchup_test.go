package router_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/router"
)

// TestNotifierReadsBackUnackedAlerts: a notifier died holding an alert it
// had been delivered and not acked. The next one delivers it at once,
// read back from ALERTS, instead of after the consumer's ack wait (a
// minute here, longer than the test waits).
func TestNotifierReadsBackUnackedAlerts(t *testing.T) {
	s := bustest.Server(t)
	c := bustest.Connect(t, s)
	ctx := context.Background()
	now := time.Now().UTC()
	fp := alert.Fingerprint("node-crash", "dev")
	a := &alert.Alert{ID: alert.MakeID(fp, now, alert.Firing), Fingerprint: fp, Rule: "node-crash", Severity: "critical",
		State: alert.Firing, GroupKey: "dev", Labels: map[string]string{"cluster": "dev"}, Summary: "held by the dead notifier",
		StartsAt: now, WindowStart: now, WindowEnd: now, CreatedAt: now}
	b, err := a.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.JS.PublishMsg(ctx, &nats.Msg{Subject: a.Subject(), Data: b}, jetstream.WithMsgID(a.ID)); err != nil {
		t.Fatal(err)
	}
	// The dead notifier's consumer: it was delivered the alert, no ack.
	cons, err := c.JS.CreateOrUpdateConsumer(ctx, bus.StreamAlerts, jetstream.ConsumerConfig{
		Durable: "router-notify", AckPolicy: jetstream.AckExplicitPolicy, AckWait: time.Minute, MaxDeliver: -1,
		MaxAckPending: 4096, DeliverPolicy: jetstream.DeliverAllPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(1)
	if err != nil {
		t.Fatal(err)
	}
	for range batch.Messages() { // taken, never acked
	}

	console := &bustest.Buffer{}
	r, err := router.Start(ctx, router.Options{
		NATS: bus.Options{URL: s.ClientURL()}, RulesDir: rulesDir(t), HTTPAddr: "127.0.0.1:0", Console: console,
		StateDir: t.TempDir(), NoRulesWatch: true, AckWait: time.Minute,
	}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	bustest.Eventually(t, "the held alert delivered", func() bool {
		return strings.Contains(console.String(), "held by the dead notifier")
	})
	info, err := cons.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.NumRedelivered != 0 {
		t.Fatalf("delivered through a redelivery (%d), not read back", info.NumRedelivered)
	}
}

// TestCloseDuringRestore: a router closed while its notifier and its web
// views still read thousands of stored alerts closes at once. A KV
// watcher abandoned with updates pending used to keep the connection's
// drain waiting for its 30 s timeout (the bound below is a hang detector).
func TestCloseDuringRestore(t *testing.T) {
	s := bustest.Server(t)
	storeAlerts(t, bustest.Connect(t, s), 5000)
	for range 3 {
		r, err := router.Start(context.Background(), router.Options{
			NATS: bus.Options{URL: s.ClientURL()}, RulesDir: rulesDir(t), HTTPAddr: "127.0.0.1:0",
			Console: &bustest.Buffer{}, StateDir: t.TempDir(), NoRulesWatch: true,
		}, bustest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		returnsWithin(t, "Close during the restore", r.Close)
	}
}

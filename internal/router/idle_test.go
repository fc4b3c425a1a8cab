package router

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
)

// TestIdleClockJudgesSilence: one heartbeat and then nothing at all. No
// event moves the clock, yet the node must be reported down: the router's
// idle clock does it, and only once it is caught up with EVENTS.
func TestIdleClockJudgesSilence(t *testing.T) {
	s := bustest.Server(t)
	dir := t.TempDir()
	rules := `rules:
  - name: node-down
    severity: warning
    match: event.type == "node.heartbeat"
    group_by: [event.cluster, event.node]
    absent_for: 1s
    lateness: 1s
    summary: '{{ .key.node }} silent'
`
	if err := os.WriteFile(filepath.Join(dir, "r.yaml"), []byte(rules), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := Start(context.Background(), Options{
		NATS: bus.Options{URL: s.ClientURL()}, RulesDir: dir, HTTPAddr: "127.0.0.1:0",
		Console: &strings.Builder{}, StateDir: t.TempDir(), NoRulesWatch: true,
		Timeouts: Timeouts{IdleTick: 50 * time.Millisecond, IdleLag: -1},
	}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	now := time.Now().UTC()
	body := fmt.Sprintf(`{"specversion":"1.0","id":"01IDLE0000000000000000001","source":"test","type":"node.heartbeat","time":%q,"cluster":"dev","node":"n1","data":{"boot_id":"b","uptime_seconds":5}}`, now.Format(time.RFC3339Nano))
	if _, err := r.conn.JS.PublishMsg(context.Background(), &nats.Msg{Subject: "events.dev.n1.heartbeat", Data: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	var got *alert.Alert
	bustest.Eventually(t, "node-down from the idle clock", func() bool {
		m, err := getLastAlert(r.conn.JS, "alerts.live.node-down")
		if err != nil {
			return false
		}
		got, err = alert.Decode(m.Data)
		return err == nil
	})
	if got.State != alert.Firing || got.Summary != "n1 silent" || !got.StartsAt.Equal(now.Add(time.Second).Truncate(time.Nanosecond)) {
		t.Fatalf("alert %+v", got)
	}
}

func getLastAlert(js jetstream.JetStream, subject string) (*jetstream.RawStreamMsg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		return nil, err
	}
	return st.GetLastMsgForSubject(ctx, subject)
}

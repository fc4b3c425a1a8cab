package notify_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/notify/notifytest"
)

// TestDeadLettersStored publishes a dead letter to a real JetStream and
// reads it back from the DLQ stream: reason header, receiver, the messages
// in webhook form, and a console notice.
func TestDeadLettersStored(t *testing.T) {
	conn := bustest.Connect(t, bustest.Server(t))
	console := &bustest.Buffer{}
	dl := notify.NewDeadLetters(conn.JS, console, bustest.Logger(t))
	a := notifytest.Alert("node-crash", "fp1", alert.Firing, map[string]string{"node": "n1"})
	n := &notify.Notification{Receiver: "wecom-sre", Messages: []*notify.Message{notifytest.Message("wecom-sre", "g1", a)}}
	cause := notify.Permanent("errcode 93000", nil)
	for range 2 { // a second dead letter of the same notification is stored once
		if err := dl.DeadLetter(context.Background(), n, cause, 1); err != nil {
			t.Fatal(err)
		}
	}
	st, err := conn.JS.Stream(context.Background(), bus.StreamDLQ)
	if err != nil {
		t.Fatal(err)
	}
	info, _ := st.Info(context.Background())
	if info.State.Msgs != 1 {
		t.Fatalf("DLQ holds %d messages, want 1", info.State.Msgs)
	}
	m, err := st.GetLastMsgForSubject(context.Background(), "dlq.notify.wecom-sre")
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Header.Get(notify.HeaderReason); !strings.HasPrefix(got, "errcode 93000") {
		t.Errorf("reason header %q", got)
	}
	var body notify.DeadLetter
	if err := json.Unmarshal(m.Data, &body); err != nil {
		t.Fatal(err)
	}
	if body.Receiver != "wecom-sre" || body.Reason != "errcode 93000" || len(body.Messages) != 1 || body.Messages[0].Alerts[0].ID != a.ID {
		t.Errorf("body %+v", body)
	}
	if out := console.String(); !strings.Contains(out, "DEAD LETTER: receiver wecom-sre") || !strings.Contains(out, a.Title()) {
		t.Errorf("console notice missing:\n%s", out)
	}
}

// TestPayloadShape checks the webhook JSON has Alertmanager's v4 field
// names, which existing consumers parse.
func TestPayloadShape(t *testing.T) {
	a := notifytest.Alert("node-crash", "fp1", alert.Firing, map[string]string{"node": "n1", "cluster": "c1"})
	a.Annotations = map[string]string{"cause": "kernel BUG"}
	b := notifytest.Alert("node-crash", "fp2", alert.Resolved, map[string]string{"node": "n2", "cluster": "c1"})
	p := notify.NewPayload(notifytest.Message("hooks", "g1", a, b), 1)
	raw, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var generic map[string]any
	_ = json.Unmarshal(raw, &generic)
	for _, k := range []string{"version", "groupKey", "truncatedAlerts", "status", "receiver", "groupLabels", "commonLabels", "commonAnnotations", "externalURL", "alerts"} {
		if _, ok := generic[k]; !ok {
			t.Errorf("missing top-level field %q", k)
		}
	}
	al := generic["alerts"].([]any)[0].(map[string]any)
	for _, k := range []string{"status", "labels", "annotations", "startsAt", "endsAt", "generatorURL", "fingerprint"} {
		if _, ok := al[k]; !ok {
			t.Errorf("missing alert field %q", k)
		}
	}
	if p.Version != "4" || p.Status != alert.Firing || p.TruncatedAlerts != 1 || len(p.Alerts) != 1 {
		t.Errorf("payload %+v", p)
	}
	if p.Alerts[0].Labels["alertname"] != "node-crash" || p.Alerts[0].Annotations["summary"] != a.Summary || p.Alerts[0].Annotations["cause"] != "kernel BUG" {
		t.Errorf("alert %+v", p.Alerts[0])
	}
}

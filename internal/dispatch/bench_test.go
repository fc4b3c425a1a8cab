package dispatch_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/notify"
	"github.com/aftershock/aftershock/internal/notify/console"
	"github.com/aftershock/aftershock/internal/notify/slack"
	"github.com/aftershock/aftershock/internal/notify/slack/slacktest"
	"github.com/aftershock/aftershock/internal/receivers"
	"github.com/aftershock/aftershock/internal/route"
)

// BenchmarkAlertToSlack measures the lifecycle and delivery path: an alert
// published to ALERTS, consumed, stored in ALERT_STATE, routed to a group
// with zero group_wait and posted by the Slack receiver to a fake Slack
// over loopback HTTP. Alerts are published at a fixed rate; the reported
// p50/p99 are from publish to the fake receiving the request. In the same
// run, on the same server, the JetStream transport alone (publish → durable
// consumer with explicit ack) is measured at the same rate: js-p50/js-p99.
func BenchmarkAlertToSlack(b *testing.B) {
	for _, rate := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("rate=%d", rate), func(b *testing.B) {
			srv := bustest.Server(b)
			conn := bustest.Connect(b, srv)
			js := bustest.TransportLatency(b, conn.JS, rate, b.N)
			path := alertToSlack(b, conn, rate, b.N)
			b.ReportMetric(0, "ns/op")
			bustest.ReportLatency(b, "", path)
			bustest.ReportLatency(b, "js-", js)
		})
	}
}

var seqRE = regexp.MustCompile(`seq=(\d+)`)

func alertToSlack(b *testing.B, conn *bus.Conn, rate, n int) []time.Duration {
	ctx := context.Background()
	fake := slacktest.New(b, "xoxb-bench")
	fake.Discard = true
	sent := make([]atomic.Int64, n) // publish times; 0 once seen
	lat := make([]time.Duration, 0, n)
	var mu sync.Mutex
	var consumeLat, sendLat []time.Duration
	done := make(chan struct{})
	fake.OnPost = func(p slacktest.Post) {
		var got []time.Duration
		for _, m := range seqRE.FindAllStringSubmatch(p.RawBlocks, -1) {
			i, _ := strconv.Atoi(m[1])
			if i < n {
				if t := sent[i].Swap(0); t != 0 {
					got = append(got, p.At.Sub(time.Unix(0, t))) // p.At: when the request arrived
				}
			}
		}
		mu.Lock()
		defer mu.Unlock()
		lat = append(lat, got...)
		if len(lat) == n {
			close(done)
		}
	}
	hs := httptest.NewServer(fake)
	defer hs.Close()
	r, probs := route.Parse("routing.yaml", []byte(`route:
  receiver: oncall
  group_by: ["..."]
  group_wait: 0s
receivers:
  - name: oncall
    rate_limit: {messages: 1000000, per: 1s}
    slack: {token: {env: T}, channel: "#bench"}
`))
	if len(probs) > 0 {
		b.Fatal(probs)
	}
	rcv, err := slack.New(slack.Options{Name: "oncall", Token: "xoxb-bench", Channel: "#bench", APIURL: hs.URL + "/api/",
		Client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}, Timeout: 10 * time.Second}})
	if err != nil {
		b.Fatal(err)
	}
	store, err := dispatch.NewKVStore(ctx, conn.JS, bus.BucketState)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	d, err := dispatch.New(dispatch.Options{Routing: r, Store: store, Targets: []dispatch.Target{
		{Receiver: timing{rcv, func(n *notify.Notification) {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range n.Messages {
				for _, a := range m.Firing {
					if mm := seqRE.FindStringSubmatch(a.Summary); mm != nil {
						i, _ := strconv.Atoi(mm[1])
						if t := sent[i].Load(); t != 0 {
							sendLat = append(sendLat, time.Since(time.Unix(0, t)))
						}
					}
				}
			}
		}}, Coalesce: receivers.SlackCoalesce, Backoff: notify.Backoff{Initial: 10 * time.Millisecond, Max: time.Second, MaxElapsed: time.Minute}},
		{Receiver: console.New("console", nil, brief.Options{}), Coalesce: 1},
	}})
	if err != nil {
		b.Fatal(err)
	}
	if err := d.Start(ctx); err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	cons, err := conn.JS.CreateOrUpdateConsumer(ctx, bus.StreamAlerts, jetstream.ConsumerConfig{
		Durable: "bench-notify", AckPolicy: jetstream.AckExplicitPolicy, MaxAckPending: 20000,
	})
	if err != nil {
		b.Fatal(err)
	}
	h := d.Handler(conn.JS, bustest.Logger(b))
	cc, err := cons.Consume(func(m jetstream.Msg) {
		if mm := seqRE.FindSubmatch(m.Data()); mm != nil {
			i, _ := strconv.Atoi(string(mm[1]))
			if t := sent[i].Load(); t != 0 {
				mu.Lock()
				consumeLat = append(consumeLat, time.Since(time.Unix(0, t)))
				mu.Unlock()
			}
		}
		h(m)
	})
	if err != nil {
		b.Fatal(err)
	}
	defer cc.Stop()
	base := time.Now()
	b.ResetTimer()
	bustest.Pace(rate, n, func(i int) {
		fp := alert.Fingerprint("bench", strconv.Itoa(i))
		a := &alert.Alert{ID: alert.MakeID(fp, base, alert.Firing), Fingerprint: fp, Rule: "bench", Severity: "critical",
			State: alert.Firing, Labels: map[string]string{"cluster": "c", "node": "n" + strconv.Itoa(i%100)},
			Summary: "bench seq=" + strconv.Itoa(i), StartsAt: base, CreatedAt: time.Now()}
		body, _ := a.Encode()
		sent[i].Store(time.Now().UnixNano())
		if _, err := conn.JS.PublishMsgAsync(&nats.Msg{Subject: a.Subject(), Data: body}, jetstream.WithMsgID(a.ID)); err != nil {
			b.Error(err)
		}
	})
	waitOrFail(b, done, "alerts to Slack")
	b.StopTimer()
	bustest.ReportLatency(b, "consume-", consumeLat)
	bustest.ReportLatency(b, "send-", sendLat)
	return lat
}

func waitOrFail(b *testing.B, done chan struct{}, what string) {
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		b.Fatalf("%s: not all messages arrived", what)
	}
}

type timing struct {
	notify.Receiver
	f func(*notify.Notification)
}

func (t timing) Send(ctx context.Context, n *notify.Notification) (string, error) {
	t.f(n)
	return t.Receiver.Send(ctx, n)
}

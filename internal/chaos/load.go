package chaos

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/notify"
)

// rules page on every aftershock.test event; routing sends each page at
// once to the webhook the run listens on.
const (
	rules = `rules:
  - name: chaos-page
    severity: critical
    match: event.type == "aftershock.test"
    group_by: [event.id]
    summary: 'page {{ .event.data.message }}'
`
	routing = `route:
  receiver: pages
  group_by: ["..."]
  group_wait: 0s
receivers:
  - name: pages
    webhook: {url: {env: CHAOS_WEBHOOK_URL}}
`
)

var pageSeq = regexp.MustCompile(`page seq=(\d+)`)

// pages receives the router's webhooks and notes when each page arrived.
type pages struct {
	mu  sync.Mutex
	got map[int][]time.Time
	srv *http.Server
	url string
}

func listenPages() (*pages, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &pages{got: map[int][]time.Time{}, url: "http://" + l.Addr().String() + "/pages"}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(l) }()
	return p, nil
}

func (p *pages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	at := time.Now()
	var m notify.Payload
	if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range m.Alerts {
		if a.Status != "firing" {
			continue
		}
		if s := pageSeq.FindStringSubmatch(a.Summary); s != nil {
			seq, _ := strconv.Atoi(s[1])
			p.got[seq] = append(p.got[seq], at)
		}
	}
}

func (p *pages) snapshot() map[int][]time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int][]time.Time, len(p.got))
	for k, v := range p.got {
		out[k] = append([]time.Time(nil), v...)
	}
	return out
}

// load publishes page events at rate and routine events (heartbeats of
// 500 nodes) at background per second until ctx ends. A page event is
// retried until it is stored (NATS may be away): published holds when the
// stored attempt was made.
type load struct {
	mu        sync.Mutex
	published map[int]time.Time
}

func (ld *load) run(ctx context.Context, url string, rate, background int) error {
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	if background > 0 {
		wg.Go(func() { routine(ctx, js, background) })
	}
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		ev := &event.Event{SpecVersion: event.SpecVersion, ID: fmt.Sprintf("chaos-page-%08d", seq), Source: "chaos",
			Type: "aftershock.test", Time: time.Now().UTC(), Cluster: "chaos", Node: "pager",
			Data: fmt.Appendf(nil, `{"message":"seq=%d"}`, seq)}
		b, err := ev.Encode()
		if err != nil {
			return err
		}
		for {
			at := time.Now()
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := js.PublishMsg(pctx, &nats.Msg{Subject: ev.NATSSubject(false), Data: b}, jetstream.WithMsgID(ev.ID))
			cancel()
			if err == nil {
				ld.mu.Lock()
				ld.published[seq] = at
				ld.mu.Unlock()
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

func (ld *load) snapshot() map[int]time.Time {
	ld.mu.Lock()
	defer ld.mu.Unlock()
	out := make(map[int]time.Time, len(ld.published))
	for k, v := range ld.published {
		out[k] = v
	}
	return out
}

// routine publishes heartbeats of a 500-node fleet at rate, best effort.
func routine(ctx context.Context, js jetstream.JetStream, rate int) {
	start := time.Now()
	interval := time.Second / time.Duration(rate)
	for i := 0; ctx.Err() == nil; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		node := fmt.Sprintf("node-%03d", i%500)
		ev := &event.Event{SpecVersion: event.SpecVersion, ID: fmt.Sprintf("chaos-hb-%010d", i), Source: "chaos",
			Type: event.TypeHeartbeat, Time: time.Now().UTC(), Cluster: "chaos", Node: node,
			Data: []byte(`{"boot_id":"281c2a66-2bb2-4274-b979-e1f50cc56fd0","uptime_seconds":86400.5,"interval_seconds":10}`)}
		b, err := ev.Encode()
		if err != nil {
			return
		}
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: ev.NATSSubject(false), Data: b}); err != nil {
			time.Sleep(100 * time.Millisecond) // NATS away, or too many in flight
		}
	}
}

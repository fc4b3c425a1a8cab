package collector

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/spool"
)

// TestSourcesDoNotWaitForASilentNATS (issue #16): NATS stops answering
// without the connection dropping (a silent network path), so the next
// publish waits for its ack. Sources publishing meanwhile return at once
// instead of waiting behind it, and when NATS answers again every event is
// stored, each source's in order.
func TestSourcesDoNotWaitForASilentNATS(t *testing.T) {
	s := bustest.Server(t)
	bustest.Connect(t, s) // provisions EVENTS
	px := bustest.NewProxy(t, s.Addr().String())
	conn, err := bus.Connect(context.Background(), bus.Options{URL: "nats://" + px.Addr}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(conn.Close)
	newEvent := func(typ string, at time.Time, data any) (*event.Event, error) {
		return event.New(typ, "test", "prod", "n1", at, data)
	}
	sp, err := spool.Open(spool.Options{
		Dir:       t.TempDir(),
		Target:    &jsPublisher{js: conn.JS, timeout: 2 * time.Minute}, // longer than any wait below
		Connected: conn.NC.IsConnected,
		NewEvent:  newEvent,
		Log:       bustest.Logger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sp.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go sp.Run(ctx)
	var failed atomic.Int64
	q := newPublishQueue(sp, 1024, func(_ event.Encoded, err error) {
		if err != nil {
			failed.Add(1)
		}
	})
	ran := make(chan struct{})
	go func() { q.run(ctx); close(ran) }()

	px.Hold(true)
	const sources, each = 3, 30
	var returned atomic.Int64
	var wg sync.WaitGroup
	for src := range sources {
		wg.Go(func() {
			for i := range each {
				ev, err := event.NewEncoded("app.tick", "test", "prod", "n1", time.Now(), map[string]string{"order": fmt.Sprintf("%d-%03d", src, i)})
				if err != nil {
					t.Error(err)
					return
				}
				if err := q.Publish(ctx, ev); err != nil {
					t.Error(err)
				}
				returned.Add(1)
			}
		})
	}
	bustest.Eventually(t, "every source's publishes to return while NATS is silent", func() bool {
		return returned.Load() == sources*each
	})
	px.Hold(false)
	wg.Wait()
	bustest.Eventually(t, "every event stored", func() bool {
		return storedCount(t, conn) == sources*each
	})
	q.close()
	<-ran
	if failed.Load() != 0 {
		t.Fatalf("%d events failed", failed.Load())
	}
	last := map[byte]string{}
	st, _ := conn.JS.Stream(context.Background(), bus.StreamEvents)
	for seq := uint64(1); seq <= sources*each; seq++ {
		m, err := st.GetMsg(context.Background(), seq)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := event.Decode(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		var d struct{ Order string }
		if err := json.Unmarshal(ev.Data, &d); err != nil {
			t.Fatal(err)
		}
		if src := d.Order[0]; d.Order <= last[src] {
			t.Fatalf("source %c: %s stored after %s", src, d.Order, last[src])
		}
		last[d.Order[0]] = d.Order
	}
}

func storedCount(t *testing.T, c *bus.Conn) int {
	t.Helper()
	st, err := c.JS.Stream(context.Background(), bus.StreamEvents)
	if err != nil {
		return 0
	}
	info, err := st.Info(context.Background())
	if err != nil {
		return 0
	}
	return int(info.State.Msgs)
}

package ingest

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/opshttp"
)

func ceData(id, typ, node, data string) string {
	n, _ := json.Marshal(node)
	return fmt.Sprintf(`{"specversion":"1.0","id":%q,"source":"app/order","type":%q,"time":"2020-06-14T13:15:40.5Z","cluster":"prod","node":%s,"data":%s}`, id, typ, n, data)
}

// TestMisbehavingClientRefused (issue #13): what the router cannot use is
// refused with the precise reason, and nothing of the request is stored.
func TestMisbehavingClientRefused(t *testing.T) {
	f := newFixture(t, nil)
	tests := []struct {
		name, body, want string
	}{
		{"a heartbeat from an app", ceData("h1", "node.heartbeat", "n1", `{"boot_id":"b","uptime_seconds":"5"}`),
			`type reserved for aftershock's own sources: "node.heartbeat"`},
		{"a forged reboot", ceData("r1", "node.reboot", "n1", `{}`), `"node.reboot"`},
		{"a forged kernel panic", ceData("k1", "kernel.panic", "n1", `{"signature":"x","summary":"x","count":1}`), `"kernel.panic"`},
		{"the engine's alert events", ceData("a1", "aftershock.alert", "n1", `{}`), `"aftershock.alert"`},
		{"a string where the schema has a number", ceData("d1", "rpc.timeout", "n1", `{"count":"5"}`),
			`data.count: "5" is a string, want an integer`},
		{"a time that is not one", ceData("d2", "dns.timeout", "n1", `{"count":1,"first":"noon"}`),
			`data.first: "noon" is not an RFC 3339 time`},
		{"a NUL in the node", ceData("c1", "rpc.timeout", "n1\x00", `{"count":1}`),
			`node "n1\x00": control character U+0000 at byte 2`},
		{"an escape in the cluster", strings.Replace(ceData("c2", "rpc.timeout", "n1", `{"count":1}`), `"cluster":"prod"`, `"cluster":"pr\u001bod"`, 1),
			`cluster "pr\x1bod": control character U+001B at byte 2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, resp, _ := f.post(PathEvents, event.ContentType, tt.body)
			if code != http.StatusBadRequest || len(resp.Problems) != 1 || !strings.Contains(resp.Problems[0].Reason, tt.want) {
				t.Fatalf("%d %+v, want 400 with %q", code, resp, tt.want)
			}
		})
	}
	// One bad event in a batch refuses the batch.
	code, resp, _ := f.post(PathEvents, BatchContentType, batch(ceData("ok1", "rpc.timeout", "n1", `{"count":1}`), ceData("bad", "rpc.timeout", "n1", `{"count":true}`)))
	if code != http.StatusBadRequest || len(resp.Problems) != 1 || resp.Problems[0].Index != 1 {
		t.Fatalf("batch: %d %+v", code, resp)
	}
	if n := len(f.stored()); n != 0 {
		t.Fatalf("%d events stored from refused requests", n)
	}
}

// rssKB is the process's resident memory (Linux), 0 elsewhere.
func rssKB() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// serveIngest serves h the way the binaries do: opshttp with limits.
func serveIngest(t *testing.T, h *Handler, l opshttp.Limits) string {
	t.Helper()
	mux := http.NewServeMux()
	h.Mount(mux)
	s, err := opshttp.Listen("127.0.0.1:0", mux, l, prometheus.NewRegistry(), "ingest", bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = s.Shutdown(ctx)
	})
	return "http://" + s.Addr().String()
}

// TestBurstAbsorbed (issue #13): 1 000 clients post a batch of 5 events
// each, all at once. At least 95 % are stored (202), and every request is
// all or nothing: the events stored are exactly those of the accepted
// requests. Refusals are 503 with Retry-After.
func TestBurstAbsorbed(t *testing.T) {
	if testing.Short() {
		t.Skip("1 000 concurrent clients")
	}
	const clients, perBatch = 1000, 5
	f := newFixture(t, nil)
	url := serveIngest(t, f.h, opshttp.DefaultLimits())
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}
	rss0 := rssKB()
	var (
		mu     sync.Mutex
		codes  = map[int]int{}
		stored = map[string]bool{}
		wg     sync.WaitGroup
		start  = make(chan struct{})
	)
	for c := range clients {
		wg.Go(func() {
			var evs []string
			var ids []string
			for i := range perBatch {
				id := fmt.Sprintf("burst-%04d-%d", c, i)
				ids = append(ids, id)
				evs = append(evs, ceData(id, "rpc.timeout", fmt.Sprintf("n%d", c%50), `{"service":"order","count":1}`))
			}
			<-start
			resp, err := client.Post(url+PathEvents, BatchContentType, strings.NewReader(batch(evs...)))
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				codes[-1]++
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			codes[resp.StatusCode]++
			if resp.StatusCode != http.StatusAccepted && codes[resp.StatusCode] <= 3 {
				t.Logf("%d: %s", resp.StatusCode, b)
			}
			if resp.StatusCode == http.StatusAccepted {
				for _, id := range ids {
					stored[id] = true
				}
			} else if resp.Header.Get("Retry-After") == "" {
				t.Errorf("refusal %d without Retry-After", resp.StatusCode)
			}
		})
	}
	close(start)
	wg.Wait()
	rss1 := rssKB()
	accepted := codes[http.StatusAccepted]
	t.Logf("%d clients × %d events: %v (202 share %.1f %%); RSS %d → %d MiB (test process: clients, server and NATS)",
		clients, perBatch, codes, 100*float64(accepted)/clients, rss0>>10, rss1>>10)
	if accepted*100 < clients*95 {
		t.Fatalf("%d of %d requests accepted, want at least 95 %%: %v", accepted, clients, codes)
	}
	msgs := f.stored()
	got := map[string]bool{}
	for _, m := range msgs {
		got[m.Header.Get("Nats-Msg-Id")] = true
	}
	if len(msgs) != len(got) || len(got) != len(stored) {
		t.Fatalf("stored %d messages (%d ids), accepted %d events", len(msgs), len(got), len(stored))
	}
	for id := range stored {
		if !got[id] {
			t.Fatalf("accepted event %s not stored", id)
		}
	}
}

// TestSlowUploadsBounded (issue #16): 200 clients send all but the last
// byte of a 1 MiB body and stall. The node's agent reads at most
// MaxInFlight bodies at once; the others wait their turn and get 503, the
// stalled ones 408 when the read timeout passes; memory stays bounded.
func TestSlowUploadsBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("200 slow uploads")
	}
	const clients, size = 200, 1 << 20
	f := newFixture(t, func(o *Options) { o.Local, o.Node, o.QueueWait = true, "n1", 500*time.Millisecond })
	l := opshttp.DefaultLimits()
	l.ReadTimeout, l.ReadHeaderTimeout = 2*time.Second, time.Second
	url := serveIngest(t, f.h, l)
	addr := strings.TrimPrefix(url, "http://")
	body := make([]byte, size-1)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	var (
		mu    sync.Mutex
		codes = map[int]int{}
		peak  uint64
		wg    sync.WaitGroup
	)
	stopPeak := make(chan struct{})
	peakDone := make(chan struct{})
	go func() {
		defer close(peakDone)
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			mu.Lock()
			peak = max(peak, ms.HeapInuse)
			mu.Unlock()
			select {
			case <-stopPeak:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	for range clients {
		wg.Go(func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: x\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n", PathEvents, event.ContentType, size)
			go func() { _, _ = c.Write(body) }() // and never the last byte
			_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
			resp, err := http.ReadResponse(bufioReader(c), nil)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				codes[-1]++
				return
			}
			resp.Body.Close()
			codes[resp.StatusCode]++
		})
	}
	wg.Wait()
	close(stopPeak)
	<-peakDone
	growth := int64(peak) - int64(before.HeapInuse)
	t.Logf("%d stalled 1 MiB uploads: %v; heap in use grew by %d MiB at most", clients, codes, growth>>20)
	if codes[http.StatusRequestTimeout]+codes[http.StatusServiceUnavailable] != clients {
		t.Fatalf("answers %v, want 408 or 503 for every stalled upload", codes)
	}
	if codes[http.StatusRequestTimeout] == 0 || codes[http.StatusServiceUnavailable] == 0 {
		t.Fatalf("answers %v: want 408 for the uploads read and 503 for those queued", codes)
	}
	// 8 bodies of 1 MiB in flight (io.ReadAll may double its buffer), not 200.
	if growth > 64<<20 {
		t.Fatalf("heap grew by %d MiB with 8 uploads read at a time", growth>>20)
	}
	if n := len(f.stored()); n != 0 {
		t.Fatalf("%d events stored from cut-off uploads", n)
	}
}

// TestUnavailableSaysWhetherStored (issue #16): a 503 says whether the
// events may have been stored. NATS gone: nothing was sent, and the
// answer says so. An answer lost after the server stored the events: the
// 503 says they may be stored, they are, and the retry stores them once.
func TestUnavailableSaysWhetherStored(t *testing.T) {
	t.Run("nats gone", func(t *testing.T) {
		f := newFixture(t, func(o *Options) { o.PublishTimeout = 500 * time.Millisecond })
		f.srv.Shutdown()
		f.srv.WaitForShutdown()
		bustest.Eventually(t, "the client to notice", func() bool { return !f.conn.NC.IsConnected() })
		code, resp, h := f.post(PathEvents, event.ContentType, ce("gone-1", "rpc.timeout"))
		if code != http.StatusServiceUnavailable || resp.StoredUnknown || h.Get("Retry-After") == "" || !strings.Contains(resp.Error, "nothing sent") {
			t.Fatalf("%d %+v", code, resp)
		}
	})
	t.Run("answer lost", func(t *testing.T) {
		s := bustest.Server(t)
		bustest.Connect(t, s) // provisions EVENTS
		px := bustest.NewProxy(t, s.Addr().String())
		conn, err := bus.Connect(context.Background(), bus.Options{URL: "nats://" + px.Addr}, bustest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(conn.Close)
		f := newFixtureOn(t, s, func(o *Options) { o.JS, o.PublishTimeout = conn.JS, 500*time.Millisecond })
		for _, tc := range []struct{ ct, body string }{
			{event.ContentType, ce("lost-1", "rpc.timeout")},
			{BatchContentType, batch(ce("lost-2", "rpc.timeout"), ce("lost-3", "rpc.timeout"))},
		} {
			px.Hold(true)
			code, resp, _ := f.post(PathEvents, tc.ct, tc.body)
			if code != http.StatusServiceUnavailable || !resp.StoredUnknown || !strings.Contains(resp.Error, "may have been stored") {
				t.Fatalf("%d %+v, want 503 with stored_unknown", code, resp)
			}
			px.Hold(false)
			bustest.Eventually(t, "the client to reconnect", conn.NC.IsConnected)
			bustest.Eventually(t, "the retry to be stored", func() bool {
				code, _, _ := f.post(PathEvents, tc.ct, tc.body)
				return code == http.StatusAccepted
			})
		}
		ids := map[string]int{}
		for _, m := range f.stored() {
			ids[m.Header.Get("Nats-Msg-Id")]++
		}
		for _, id := range []string{"lost-1", "lost-2", "lost-3"} {
			if ids[id] != 1 {
				t.Errorf("%s stored %d times, want once: %v", id, ids[id], ids)
			}
		}
	})
}

// TestNodeAgentRefusesForgedNodeEvents (issue #16): a pod posting a
// node.reboot or kernel.* event to its node's agent is refused; the agent
// fills in its own node for an app's event as before.
func TestNodeAgentRefusesForgedNodeEvents(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Local, o.Cluster, o.Node, o.Token = true, "prod", "n1", "tok" })
	auth := []string{"Authorization", "Bearer tok"}
	for _, typ := range []string{"node.reboot", "node.heartbeat", "kernel.panic", "kernel.oom", "collector.spool_dropped"} {
		body := `{"specversion":"1.0","id":"forged-` + typ + `","source":"pod","type":"` + typ + `","time":"2026-01-01T00:00:00Z","data":{}}`
		code, resp, _ := f.post(PathEvents, event.ContentType, body, auth...)
		if code != http.StatusBadRequest || len(resp.Problems) != 1 || !strings.Contains(resp.Problems[0].Reason, "reserved") {
			t.Errorf("%s: %d %+v", typ, code, resp)
		}
	}
	code, resp, _ := f.post(PathEvents, event.ContentType, `{"specversion":"1.0","id":"app-1","source":"pod","type":"rpc.timeout","time":"2026-01-01T00:00:00Z","data":{"count":1}}`, auth...)
	if code != http.StatusAccepted {
		t.Fatalf("an app's own event: %d %+v", code, resp)
	}
	if code, _, _ := f.post(PathEvents, event.ContentType, ce("no-token", "rpc.timeout")); code != http.StatusUnauthorized {
		t.Fatalf("without the token: %d", code)
	}
	if n := len(f.stored()); n != 1 {
		t.Fatalf("%d events stored, want the app's one", n)
	}
}

func TestCheckExposure(t *testing.T) {
	for _, tt := range []struct {
		addr, token string
		ok          bool
	}{
		{"127.0.0.1:9471", "", true},
		{"[::1]:9471", "", true},
		{"localhost:9471", "", true},
		{"10.0.0.7:9471", "", false},
		{"0.0.0.0:9470", "", false},
		{":9470", "", false},
		{"10.0.0.7:9471", "tok", true},
	} {
		err := CheckExposure(tt.addr, tt.token)
		if (err == nil) != tt.ok || (err != nil && !strings.Contains(err.Error(), "needs a bearer token")) {
			t.Errorf("%s token %q: %v", tt.addr, tt.token, err)
		}
	}
}

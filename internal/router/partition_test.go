package router_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/router"
)

// burstRules fire once per cluster when its window holds burstN events:
// a group whose count needs events from before and after a hand-over.
const burstN = 40

var burstRules = fmt.Sprintf(`rules:
  - name: burst
    severity: warning
    match: event.type == "aftershock.test"
    group_by: [event.cluster]
    window: 1h
    condition: window.events() >= %d
    values:
      n: window.events()
    summary: 'burst in {{ .key.cluster }}: n={{ .values.n }}'
`, burstN)

// burst publishes the test events of clusters, numbers from..to of each,
// retrying each until JetStream acks it (the same Nats-Msg-Id, so a retry
// after a lost ack stores it once). Event times are fixed offsets from t0,
// so the windows do not depend on how long the test takes.
type burst struct {
	js       jetstream.JetStream
	clusters []string
	t0       time.Time
}

func (b burst) id(cluster string, i int) string { return fmt.Sprintf("%s-%02d", cluster, i) }

func (b burst) at(i int) time.Time { return b.t0.Add(time.Duration(i) * 100 * time.Millisecond) }

func (b burst) publish(tb testing.TB, from, to int, after func(i int)) {
	for i := from; i <= to; i++ {
		for _, c := range b.clusters {
			node := fmt.Sprintf("node-%d", i%3)
			data := fmt.Appendf(nil, `{"specversion":"1.0","id":%q,"source":"test","type":"aftershock.test","time":%q,"cluster":%q,"node":%q,"data":{"message":"n%d"}}`,
				b.id(c, i), b.at(i).UTC().Format(time.RFC3339Nano), c, node, i)
			msg := &nats.Msg{Subject: "events." + c + "." + node + ".app", Data: data}
			deadline := time.Now().Add(time.Minute)
			for {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				_, err := b.js.PublishMsg(ctx, msg, jetstream.WithMsgID(b.id(c, i)))
				cancel()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					tb.Errorf("publish %s: %v", b.id(c, i), err)
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		if after != nil {
			after(i)
		}
	}
}

func startPartitioned(tb testing.TB, url, id, rules string, partitions int) *router.Router {
	tb.Helper()
	r, err := router.Start(context.Background(), router.Options{
		NATS:         bus.Options{URL: url},
		RulesDir:     rules,
		HTTPAddr:     "127.0.0.1:0",
		Console:      &bustest.Buffer{},
		StateDir:     tb.TempDir(),
		NoRulesWatch: true,
		Partitions:   partitions,
		RouterID:     id,
		MemberTTL:    3 * time.Second,
		AckWait:      3 * time.Second,
	}, bustest.Logger(tb))
	if err != nil {
		tb.Fatalf("start router %s: %v", id, err)
	}
	return r
}

func burstDir(tb testing.TB) string {
	tb.Helper()
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "burst.yaml"), []byte(burstRules), 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// lanesSplit waits until the routers own every partition between them,
// each at least one and none twice.
func lanesSplit(tb testing.TB, partitions int, rs ...*router.Router) {
	tb.Helper()
	waitFor(tb, time.Minute, fmt.Sprintf("%d routers to split %d partitions", len(rs), partitions), func() bool {
		seen := map[string]int{}
		for _, r := range rs {
			lanes := r.Lanes()
			if len(lanes) == 0 {
				return false
			}
			for _, l := range lanes {
				seen[l]++
			}
		}
		if len(seen) != partitions {
			return false
		}
		for _, n := range seen {
			if n != 1 {
				return false
			}
		}
		return true
	})
}

// drained reports whether every partition consumer has acked everything
// the partitioned stream holds, and the stream holds want events.
func drained(ctx context.Context, js jetstream.JetStream, partitions int, want uint64) bool {
	st, err := js.Stream(ctx, bus.StreamPartitioned)
	if err != nil || st.CachedInfo().State.Msgs != want {
		return false
	}
	for p := range partitions {
		c, err := js.Consumer(ctx, bus.StreamPartitioned, fmt.Sprintf("router-p%d", p))
		if err != nil {
			return false
		}
		info, err := c.Info(ctx)
		if err != nil || info.NumPending != 0 || info.NumAckPending != 0 {
			return false
		}
	}
	return true
}

// storedAlerts reads every alert in ALERTS.
func storedAlerts(tb testing.TB, js jetstream.JetStream) []alert.Alert {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, bus.StreamAlerts)
	if err != nil {
		tb.Fatal(err)
	}
	info, err := st.Info(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []alert.Alert
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			continue
		}
		if err != nil {
			tb.Fatal(err)
		}
		var a alert.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			tb.Fatalf("alert %d: %v", seq, err)
		}
		out = append(out, a)
	}
	return out
}

// checkBursts: every cluster's burst fired exactly once, on the full
// window (from its first event, burstN events), and nothing else fired.
func checkBursts(tb testing.TB, js jetstream.JetStream, b burst) {
	tb.Helper()
	checkBurstAlerts(tb, storedAlerts(tb, js), b)
}

func checkBurstAlerts(tb testing.TB, alerts []alert.Alert, b burst) {
	tb.Helper()
	byID := map[string]int{}
	byFP := map[string][]alert.Alert{}
	for _, a := range alerts {
		byID[a.ID]++
		byFP[a.Fingerprint] = append(byFP[a.Fingerprint], a)
	}
	for id, n := range byID {
		if n != 1 {
			tb.Errorf("alert %s stored %d times", id, n)
		}
	}
	if len(alerts) != len(b.clusters) || len(byFP) != len(b.clusters) {
		for _, a := range alerts {
			tb.Logf("alert %s %s %s: %s", a.ID, a.Fingerprint, a.State, a.Summary)
		}
		tb.Fatalf("%d alerts with %d fingerprints, want one per cluster (%d)", len(alerts), len(byFP), len(b.clusters))
	}
	for fp, as := range byFP {
		a := as[0]
		if a.State != alert.Firing || !slices.Contains(b.clusters, a.Labels["cluster"]) {
			tb.Errorf("%s: unexpected alert %+v", fp, a)
			continue
		}
		if want := fmt.Sprintf("burst in %s: n=%d", a.Labels["cluster"], burstN); a.Summary != want {
			tb.Errorf("%s: summary %q, want %q", fp, a.Summary, want)
		}
		if !a.WindowStart.Equal(b.at(1)) {
			tb.Errorf("%s: window starts %s, want the first event's %s: the window lost events from before the hand-over",
				a.Labels["cluster"], a.WindowStart, b.at(1))
		}
	}
}

var laneEventsRE = regexp.MustCompile(`(?m)^aftershock_router_lane_events_total\{lane="([^"]+)"\} (\S+)$`)

// laneEvents reads from a router's /metrics how many events it evaluated
// per lane.
func laneEvents(tb testing.TB, r *router.Router) map[string]float64 {
	tb.Helper()
	resp, err := http.Get("http://" + r.HTTPAddr() + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]float64{}
	for _, m := range laneEventsRE.FindAllStringSubmatch(string(body), -1) {
		v, err := strconv.ParseFloat(m[2], 64)
		if err != nil {
			tb.Fatal(err)
		}
		out[m[1]] = v
	}
	return out
}

// onlyOwnLanes fails when a router evaluated events of a lane it does not
// own.
func onlyOwnLanes(tb testing.TB, name string, owned []string, events map[string]float64) {
	tb.Helper()
	for lane, n := range events {
		if n > 0 && !slices.Contains(owned, lane) {
			tb.Errorf("router %s evaluated %v events of %s, which it does not own (it owns %v)", name, n, lane, owned)
		}
	}
}

func waitFor(tb testing.TB, limit time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func clusterNames(n int) []string {
	var out []string
	for i := range n {
		out = append(out, fmt.Sprintf("c%02d", i))
	}
	return out
}

// TestPartitionedRoutersSurviveServerAndRouterLoss runs two partitioned
// routers on a 3-server JetStream cluster. They split the partitions; half
// of every cluster's burst is evaluated; then, while the second half is
// being published, one NATS server and one router die (its connection cut,
// nothing drained or acked). The survivor takes the dead router's
// partitions, rebuilds their windows from the partitioned stream, and every
// cluster's burst fires exactly once with its full count.
func TestPartitionedRoutersSurviveServerAndRouterLoss(t *testing.T) {
	const partitions = 4
	servers := bustest.Cluster(t, 3)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	url := strings.Join(urls, ",")
	rules := burstDir(t)
	a := startPartitioned(t, url, "router-a", rules, partitions)
	closeA := sync.OnceFunc(a.Close)
	t.Cleanup(closeA)
	b := startPartitioned(t, url, "router-b", rules, partitions)
	t.Cleanup(b.Close)
	lanesSplit(t, partitions+1, a, b) // + the drills lane
	t.Logf("split: a %v, b %v", a.Lanes(), b.Lanes())
	for _, name := range []string{bus.StreamPartitioned, "KV_" + bus.BucketRouters} {
		st, err := a.Conn().JS.Stream(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if n := st.CachedInfo().Config.Replicas; n != 3 {
			t.Fatalf("%s has %d replicas on a 3-server cluster", name, n)
		}
	}

	pub, err := bus.Connect(context.Background(), bus.Options{URL: url, Name: "publisher"}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pub.Close)
	bu := burst{js: pub.JS, clusters: clusterNames(12), t0: time.Now().Add(-30 * time.Minute).Truncate(time.Second)}
	ctx := context.Background()

	half := burstN / 2
	bu.publish(t, 1, half, nil)
	waitFor(t, time.Minute, "the first half evaluated", func() bool {
		return drained(ctx, pub.JS, partitions, uint64(half*len(bu.clusters)))
	})
	if got := storedAlerts(t, pub.JS); len(got) != 0 {
		t.Fatalf("%d alerts after half the burst", len(got))
	}
	// Each partition was correlated by its owner alone, each event once.
	aLanes, aEvents, bEvents := a.Lanes(), laneEvents(t, a), laneEvents(t, b)
	onlyOwnLanes(t, "a", aLanes, aEvents)
	onlyOwnLanes(t, "b", b.Lanes(), bEvents)
	total := 0.0
	for _, n := range aEvents {
		total += n
	}
	for _, n := range bEvents {
		total += n
	}
	if total != float64(half*len(bu.clusters)) {
		t.Fatalf("the routers evaluated %v events, want %d", total, half*len(bu.clusters))
	}

	// Under load: the second half is published while a server and a
	// router die.
	killAt := half + 4
	var killed time.Time
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		bu.publish(t, half+1, burstN, func(i int) {
			if i != killAt {
				return
			}
			aEvents = laneEvents(t, a)
			killed = time.Now()
			servers[2].Shutdown()
			a.Conn().NC.Close() // a crash: no drain, no acks, no unpin, key left to expire
			go closeA()
		})
	}()
	wg.Wait()
	waitFor(t, time.Minute, "the survivor to own every partition", func() bool {
		return len(b.Lanes()) == partitions+1
	})
	handover := time.Since(killed)
	waitFor(t, 2*time.Minute, "every event sourced into the partitioned stream", func() bool {
		st, err := pub.JS.Stream(ctx, bus.StreamPartitioned)
		return err == nil && st.CachedInfo().State.Msgs == uint64(burstN*len(bu.clusters))
	})
	sourced := time.Since(killed)
	waitFor(t, 2*time.Minute, "every burst evaluated", func() bool {
		return drained(ctx, pub.JS, partitions, uint64(burstN*len(bu.clusters)))
	})
	t.Logf("after the kill: the survivor owned every partition in %s, every event was sourced in %s and evaluated in %s",
		handover.Round(time.Millisecond), sourced.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	checkBursts(t, pub.JS, bu)
	onlyOwnLanes(t, "a", aLanes, aEvents)
}

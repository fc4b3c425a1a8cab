package router_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/router"
)

// TestReplicasFollowTheCluster: on a 3-server JetStream cluster the router
// creates every stream and bucket with 3 replicas; --replicas overrides;
// on one server they have 1; and the streams keep taking events with one
// server down.
func TestReplicasFollowTheCluster(t *testing.T) {
	servers := bustest.Cluster(t, 3)
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.ClientURL())
	}
	start := func(replicas int) *router.Router {
		r, err := router.Start(context.Background(), router.Options{
			NATS:     bus.Options{URL: strings.Join(urls, ",")},
			RulesDir: rulesDir(t),
			HTTPAddr: "127.0.0.1:0",
			Console:  &bustest.Buffer{},
			StateDir: t.TempDir(),
			Replicas: replicas,
		}, bustest.Logger(t))
		if err != nil {
			t.Fatalf("start router: %v", err)
		}
		return r
	}
	r := start(0)
	defer r.Close()
	ctx := context.Background()
	for _, name := range []string{bus.StreamEvents, bus.StreamAlerts, bus.StreamDLQ, "KV_" + bus.BucketSilence, "KV_" + bus.BucketState} {
		st, err := r.Conn().JS.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.Config.Replicas != 3 || info.Cluster == nil || len(info.Cluster.Replicas) != 2 {
			t.Errorf("%s: replicas %d, cluster %+v; want 3 placed", name, info.Config.Replicas, info.Cluster)
		}
	}

	// One server down: the R3 stream still stores events.
	servers[2].Shutdown()
	servers[2].WaitForShutdown()
	bustest.Eventually(t, "publish with one server down", func() bool {
		_, err := r.Conn().JS.Publish(ctx, "events.dev.n1.app", testEvent("01J00000000000000000000001", "n1", "x", time.Now()))
		return err == nil
	})

	single := bustest.Server(t)
	rs, err := router.Start(ctx, router.Options{
		NATS: bus.Options{URL: single.ClientURL()}, RulesDir: rulesDir(t), HTTPAddr: "127.0.0.1:0",
		Console: &bustest.Buffer{}, StateDir: t.TempDir(),
	}, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	st, err := rs.Conn().JS.Stream(ctx, bus.StreamEvents)
	if err != nil {
		t.Fatal(err)
	}
	if n := st.CachedInfo().Config.Replicas; n != 1 {
		t.Errorf("single server: EVENTS replicas %d, want 1", n)
	}
}

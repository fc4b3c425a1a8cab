package natssec_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/natssec"
)

// The streams of the streams' account, as the router provisions them.
var allStreams = []string{bus.StreamEvents, bus.StreamAlerts, bus.StreamDLQ,
	"KV_" + bus.BucketSilence, "KV_" + bus.BucketState, "KV_" + bus.BucketRouters, "OBJ_" + bus.BucketWindows}

// replyTargets are reply subjects an attacker sets on a publish it may
// make, hoping the server stores its answer there: every stream's subjects,
// another node's events, drills, and JetStream API calls that would change
// or delete something.
var replyTargets = []string{
	"alerts.live.pipeline-test",
	"alerts.drill.pipeline-test",
	"dlq.events",
	"$KV.SILENCES.maint-n1",
	"$KV.ALERT_STATE.alert.fp1",
	"$KV.ALERT_STATE.nflog.g1",
	"$KV.ROUTERS.lease.notifier",
	"$KV.ROUTERS.router-a",
	"$O.WINDOWS.M.cm91dGVy",
	"$O.WINDOWS.C.x",
	"events.prod.node-2.app",
	"events.prod.node-1.kernel",
	"events.staging.node-1.reboot",
	"drill.events.prod.node-1.app",
	"$JS.API.STREAM.PURGE.EVENTS",
	"$JS.API.STREAM.DELETE.ALERTS",
	"$JS.API.STREAM.MSG.DELETE.KV_SILENCES",
	"$JS.API.CONSUMER.CREATE.EVENTS",
	"$JS.API.CONSUMER.DELETE.ALERTS.router-notify",
	"$JS.ACK.EVENTS.router.1.1.1.1.0",
}

// headerTricks are JetStream headers that change what a publish stores
// beyond its own message: rolling up (purging) the subject or the whole
// stream, a message TTL, schedules, counters, and the optimistic
// concurrency checks.
var headerTricks = []map[string]string{
	{"Nats-Rollup": "all"},
	{"Nats-Rollup": "sub"},
	{"Nats-TTL": "1s"},
	{"Nats-Schedule": "@every 1s", "Nats-Schedule-Target": "alerts.live.x"},
	{"Nats-Incr": "1"},
	{"Nats-Expected-Stream": bus.StreamAlerts},
	{"Nats-Expected-Last-Sequence": "1"},
	{"Nats-Expected-Last-Subject-Sequence": "0"},
	{"Nats-Expected-Last-Msg-Id": "nope"},
	{"KV-Operation": "PURGE", "Nats-Rollup": "sub"},
	{"Nats-Batch-Id": "b1", "Nats-Batch-Sequence": "1", "Nats-Batch-Commit": "1"},
}

// roleRow is one line of the role table: a user and the subjects of the
// streams' account it may change, and the subjects it publishes on.
type roleRow struct {
	role          natssec.Role
	cluster, node string
	// own are the stored subjects the role may add or remove messages on.
	own []string
	// publishOn are subjects it may publish on (one per stream it writes).
	publishOn []string
}

var roleTable = []roleRow{
	{role: natssec.RoleCollector, cluster: "prod", node: "node-1",
		own: []string{"events.prod.node-1.>"}, publishOn: []string{"events.prod.node-1.app"}},
	{role: natssec.RoleIngest,
		own: []string{"events.>"}, publishOn: []string{"events.prod.node-7.app"}},
	{role: natssec.RoleOperator,
		own:       []string{"drill.events.>", "$KV.SILENCES.>"},
		publishOn: []string{"drill.events.prod.node-1.app", "$KV.SILENCES.op-test"}},
}

// TestNoRoleWritesOutsideItsSubjects runs the role table against the
// generated configuration with every reply-subject and header trick, and
// then compares what every stream holds, message by message, with what it
// held before: each role may have added or removed messages on its own
// subjects and nowhere else. The router is not in the table: it owns the
// streams' account (and may delete them); its limits are tested in
// TestRouterPermissions.
func TestNoRoleWritesOutsideItsSubjects(t *testing.T) {
	sec := startSecured(t)
	router := sec.connect(t, natssec.RoleRouter, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	topo := bus.DefaultTopology()
	topo.MemberTTL = time.Hour // nothing may expire while the test looks
	if _, err := bus.Provision(ctx, router.JS, topo); err != nil {
		t.Fatal(err)
	}
	seedEveryStream(ctx, t, sec, router)

	for _, row := range roleTable {
		t.Run(string(row.role), func(t *testing.T) {
			before := storedMessages(ctx, t, router.JS)
			consumersBefore := consumerCount(ctx, t, router.JS)
			nc, _ := sec.client(t, row.role, row.cluster, row.node)
			js, err := jetstream.New(nc)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, subj := range row.publishOn {
				for _, reply := range replyTargets {
					n++
					m := nats.NewMsg(subj)
					m.Reply = reply
					m.Data = []byte(`{"trick":"reply"}`)
					m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("reply-%d", n))
					if err := nc.PublishMsg(m); err != nil {
						t.Fatal(err)
					}
				}
				for _, h := range headerTricks {
					n++
					m := nats.NewMsg(subj)
					m.Data = []byte(`{"trick":"header"}`)
					m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("header-%d", n))
					for k, v := range h {
						m.Header.Set(k, v)
					}
					// With a reply inbox, so JetStream answers (and tells
					// what it refused), and once more with a foreign reply.
					pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
					_, _ = js.PublishMsg(pctx, m)
					cancel()
					m.Reply = "alerts.live.header-trick"
					m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("header-%d-b", n))
					_ = nc.PublishMsg(m)
				}
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			after := settled(ctx, t, router.JS)
			changed := diff(before, after)
			if len(changed) == 0 {
				t.Fatalf("%s stored nothing: the test's publishes did not reach the streams", row.role)
			}
			for _, c := range changed {
				if !matchesAny(c.subject, row.own) {
					t.Errorf("%s changed %s: %s seq %d on %q (%s), outside its subjects %v",
						row.role, c.stream, c.what, c.seq, c.subject, c.data, row.own)
				}
			}
			if got := consumerCount(ctx, t, router.JS); !equalCounts(got, consumersBefore) {
				t.Errorf("%s changed the consumers: %v, before %v", row.role, got, consumersBefore)
			}
		})
	}
}

// seedEveryStream stores one message on every stream, as its writer does,
// so purges and deletes would show.
func seedEveryStream(ctx context.Context, t *testing.T, sec *secured, router *bus.Conn) {
	t.Helper()
	col := sec.connect(t, natssec.RoleCollector, "prod", "node-2")
	if _, err := col.JS.Publish(ctx, "events.prod.node-2.kernel", []byte(`{"seed":1}`)); err != nil {
		t.Fatal(err)
	}
	for _, subj := range []string{"alerts.live.seed", "dlq.events"} {
		if _, err := router.JS.Publish(ctx, subj, []byte(`{"seed":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	for bucket, key := range map[string]string{bus.BucketSilence: "maint-n1", bus.BucketState: "alert.fp1", bus.BucketRouters: "lease.notifier"} {
		kv, err := router.JS.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, key, []byte(`{"seed":1}`)); err != nil {
			t.Fatal(err)
		}
	}
}

type stored struct {
	subject string
	data    string
}

// storedMessages reads every message of every stream by sequence.
func storedMessages(ctx context.Context, t *testing.T, js jetstream.JetStream) map[string]map[uint64]stored {
	t.Helper()
	out := map[string]map[uint64]stored{}
	for _, name := range allStreams {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		msgs := map[uint64]stored{}
		for seq := info.State.FirstSeq; seq > 0 && seq <= info.State.LastSeq; seq++ {
			m, err := st.GetMsg(ctx, seq)
			if errors.Is(err, jetstream.ErrMsgNotFound) {
				continue
			}
			if err != nil {
				t.Fatalf("%s seq %d: %v", name, seq, err)
			}
			msgs[seq] = stored{m.Subject, string(m.Data)}
		}
		out[name] = msgs
	}
	return out
}

// settled reads the streams until two reads 200ms apart agree: answers
// to reply subjects are stored asynchronously.
func settled(ctx context.Context, t *testing.T, js jetstream.JetStream) map[string]map[uint64]stored {
	t.Helper()
	prev := storedMessages(ctx, t, js)
	for range 50 {
		time.Sleep(200 * time.Millisecond)
		cur := storedMessages(ctx, t, js)
		if len(diff(prev, cur)) == 0 {
			return cur
		}
		prev = cur
	}
	t.Fatal("the streams did not settle")
	return nil
}

type change struct {
	stream, what, subject, data string
	seq                         uint64
}

func diff(before, after map[string]map[uint64]stored) []change {
	var out []change
	for _, name := range allStreams {
		for seq, m := range after[name] {
			if _, ok := before[name][seq]; !ok {
				out = append(out, change{name, "added", m.subject, m.data, seq})
			}
		}
		for seq, m := range before[name] {
			if _, ok := after[name][seq]; !ok {
				out = append(out, change{name, "removed", m.subject, m.data, seq})
			}
		}
	}
	slices.SortFunc(out, func(a, b change) int { return strings.Compare(a.stream+a.subject, b.stream+b.subject) })
	return out
}

func matchesAny(subject string, patterns []string) bool {
	for _, p := range patterns {
		if subjectMatches(subject, p) {
			return true
		}
	}
	return false
}

// subjectMatches is NATS wildcard matching of a literal subject.
func subjectMatches(subject, pattern string) bool {
	st, pt := strings.Split(subject, "."), strings.Split(pattern, ".")
	for i, p := range pt {
		if p == ">" {
			return len(st) > i
		}
		if i >= len(st) || (p != "*" && p != st[i]) {
			return false
		}
	}
	return len(st) == len(pt)
}

func consumerCount(ctx context.Context, t *testing.T, js jetstream.JetStream) map[string]int {
	t.Helper()
	out := map[string]int{}
	for _, name := range allStreams {
		st, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		for range st.ConsumerNames(ctx).Name() {
			out[name]++
		}
	}
	return out
}

func equalCounts(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

package natssec_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"
	"github.com/synadia-io/orbit.go/jetstreamext"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/natssec"
)

// provisioned starts a secured server and provisions it as the router
// does: the router's permissions must be enough for that.
func provisioned(t *testing.T) *secured {
	t.Helper()
	sec := startSecured(t)
	router := sec.connect(t, natssec.RoleRouter, "", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := bus.Provision(ctx, router.JS, bus.DefaultTopology()); err != nil {
		t.Fatalf("router cannot provision: %v", err)
	}
	return sec
}

func jsPublish(t *testing.T, js jetstream.JetStream, subject string) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := js.Publish(ctx, subject, []byte(`{}`), jetstream.WithMsgID(subject+time.Now().String()))
	return err
}

// forbidden checks that each subject is refused to nc for op ("publish" or
// "subscription") with the server's permissions error.
func forbidden(t *testing.T, nc *nats.Conn, errs <-chan error, op string, subjects ...string) {
	t.Helper()
	for _, subj := range subjects {
		t.Run(op+" "+subj, func(t *testing.T) {
			switch op {
			case "publish":
				if err := nc.Publish(subj, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
				wantViolation(t, errs, "publish", subj)
			case "subscription":
				sub, err := nc.SubscribeSync(subj)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := sub.NextMsg(5 * time.Second); !errors.Is(err, nats.ErrPermissionViolation) {
					t.Fatalf("subscribe %s: got %v, want a permissions violation", subj, err)
				}
			}
		})
	}
}

func TestCollectorPermissions(t *testing.T) {
	sec := provisioned(t)
	nc, errs := sec.client(t, natssec.RoleCollector, "prod", "node-1")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("publish own events and receive the ack", func(t *testing.T) {
		for _, subj := range []string{"events.prod.node-1.kernel", "events.prod.node-1.heartbeat"} {
			if err := jsPublish(t, js, subj); err != nil {
				t.Fatalf("%s: %v", subj, err)
			}
		}
	})
	forbidden(t, nc, errs, "publish",
		"events.prod.node-2.kernel",    // another node
		"events.staging.node-1.kernel", // same node name, another cluster
		"events.prod.node-1",           // not under its prefix
		"drill.events.prod.node-1.kernel",
		"alerts.prod.x",
		"dlq.events",
		"$KV.SILENCES.s1",
		"$KV.ALERT_STATE.x",
		"$JS.API.STREAM.INFO.EVENTS",
		"$JS.API.CONSUMER.CREATE.EVENTS",
		"$JS.API.STREAM.DELETE.EVENTS",
	)
	forbidden(t, nc, errs, "subscription",
		"events.>",
		"events.prod.node-1.>", // not even its own events
		"alerts.>",
		"_INBOX.>",
		"_INBOX.prod.node-2.>",
		"$KV.>",
		">",
	)

	t.Run("acks need the collector inbox", func(t *testing.T) {
		// Without bus.CollectorInbox the reply subscription itself is
		// refused, so the publish cannot be confirmed.
		nk, err := nats.NkeyOptionFromSeed(sec.store.SeedPath(natssec.RoleCollector, "prod", "node-2"))
		if err != nil {
			t.Fatal(err)
		}
		plainErrs := make(chan error, 16)
		plain, err := nats.Connect(sec.url, nk, nats.RootCAs(sec.tls.CA),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { plainErrs <- err }))
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		pjs, _ := jetstream.New(plain)
		if err := jsPublish(t, pjs, "events.prod.node-2.kernel"); err == nil {
			t.Fatal("publish confirmed without a permitted inbox")
		}
		wantViolation(t, plainErrs, "subscription", "_INBOX.")
	})

	t.Run("a dotted node name publishes on its token", func(t *testing.T) {
		dnc, _ := sec.client(t, natssec.RoleCollector, "prod", "ip-10-0-0-1.ec2.internal")
		djs, _ := jetstream.New(dnc)
		subj := event.SubjectFor(event.LivePrefix, "prod", "ip-10-0-0-1.ec2.internal", event.ClassKernel)
		if err := jsPublish(t, djs, subj); err != nil {
			t.Fatalf("%s: %v", subj, err)
		}
	})

	t.Run("only allowed events were stored", func(t *testing.T) {
		router := sec.connect(t, natssec.RoleRouter, "", "")
		st, err := router.JS.Stream(context.Background(), bus.StreamEvents)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(">"))
		if err != nil {
			t.Fatal(err)
		}
		// node-2's publish reached the stream although its ack could not
		// come back: the inbox rule protects replies, not the stream.
		want := map[string]uint64{"events.prod.node-1.kernel": 1, "events.prod.node-1.heartbeat": 1, "events.prod.node-2.kernel": 1,
			"events.prod.ip-10-0-0-1_ec2_internal.kernel": 1}
		if len(info.State.Subjects) != len(want) {
			t.Fatalf("EVENTS subjects %v, want %v", info.State.Subjects, want)
		}
		for s, n := range want {
			if info.State.Subjects[s] != n {
				t.Fatalf("EVENTS subjects %v, want %v", info.State.Subjects, want)
			}
		}
	})
}

func TestRouterPermissions(t *testing.T) {
	sec := provisioned(t)
	col, _ := sec.client(t, natssec.RoleCollector, "prod", "node-1")
	cjs, _ := jetstream.New(col)
	if err := jsPublish(t, cjs, "events.prod.node-1.kernel"); err != nil {
		t.Fatal(err)
	}
	router := sec.connect(t, natssec.RoleRouter, "", "")
	ctx := context.Background()

	t.Run("consume EVENTS with a durable consumer and ack", func(t *testing.T) {
		cons, err := router.JS.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
			Durable: "router", AckPolicy: jetstream.AckExplicitPolicy,
		})
		if err != nil {
			t.Fatal(err)
		}
		batch, err := cons.Fetch(1, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatalf("ack: %v", err)
			}
			n++
		}
		if n != 1 {
			t.Fatalf("fetched %d events, want 1 (err %v)", n, batch.Error())
		}
	})
	t.Run("write ALERTS, DLQ and KV", func(t *testing.T) {
		for _, subj := range []string{"alerts.prod.firing", "dlq.events"} {
			if err := jsPublish(t, router.JS, subj); err != nil {
				t.Fatalf("%s: %v", subj, err)
			}
		}
		for _, bucket := range []string{bus.BucketSilence, bus.BucketState} {
			kv, err := router.JS.KeyValue(ctx, bucket)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := kv.Put(ctx, "k1", []byte(`{}`)); err != nil {
				t.Fatalf("put %s: %v", bucket, err)
			}
		}
	})
	nc, errs := sec.client(t, natssec.RoleRouter, "", "")
	forbidden(t, nc, errs, "publish", "events.prod.node-1.kernel", "drill.events.prod.node-1.kernel")
}

// TestIngestPermissions: the router's ingest stores events for any node,
// one by one and as an atomic batch, and can do nothing else.
func TestIngestPermissions(t *testing.T) {
	sec := provisioned(t)
	ingest := sec.connect(t, natssec.RoleIngest, "", "")
	ctx := context.Background()

	t.Run("publish any node's events and receive the ack", func(t *testing.T) {
		for _, subj := range []string{"events.prod.node-1.app", "events.staging.node-9.rpc"} {
			if err := jsPublish(t, ingest.JS, subj); err != nil {
				t.Fatalf("%s: %v", subj, err)
			}
		}
	})
	t.Run("publish an atomic batch", func(t *testing.T) {
		var msgs []*nats.Msg
		for i := range 3 {
			m := nats.NewMsg("events.prod.node-2.app")
			m.Data = []byte(`{}`)
			m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("batch-%d", i))
			msgs = append(msgs, m)
		}
		bctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, err := jetstreamext.PublishMsgBatch(bctx, ingest.JS, msgs); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("the events are stored", func(t *testing.T) {
		router := sec.connect(t, natssec.RoleRouter, "", "")
		for subj, want := range map[string]uint64{"events.prod.node-1.app": 1, "events.staging.node-9.rpc": 1, "events.prod.node-2.app": 3} {
			if n := subjectCount(t, router.JS, bus.StreamEvents, subj); n != want {
				t.Errorf("%s: %d stored, want %d", subj, n, want)
			}
		}
	})
	nc, errs := sec.client(t, natssec.RoleIngest, "", "")
	forbidden(t, nc, errs, "publish",
		"drill.events.prod.node-1.app",
		"alerts.prod.firing",
		"dlq.events",
		"$KV.SILENCES.s1",
		"$KV.ALERT_STATE.x",
		"$JS.API.STREAM.INFO.EVENTS",
		"$JS.API.STREAM.DELETE.EVENTS",
		"$JS.API.CONSUMER.CREATE.EVENTS",
		"$JS.ACK.EVENTS.router.1.1.1.1.0",
	)
	forbidden(t, nc, errs, "subscription",
		"events.>",
		"alerts.>",
		"_INBOX.>",
		"_INBOX.prod.node-1.>", // a collector's acks
		"$KV.>",
		">",
	)
}

// TestOperatorPermissions: an operator publishes drills, edits silences,
// reads streams without consumers (direct gets) and watches live subjects;
// it can create, edit or delete no consumer and change no stream.
func TestOperatorPermissions(t *testing.T) {
	sec := provisioned(t)
	router := sec.connect(t, natssec.RoleRouter, "", "")
	nc, errs := sec.client(t, natssec.RoleOperator, "", "")
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	live, err := nc.SubscribeSync("alerts.>")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Run("publish drill events", func(t *testing.T) {
		if err := jsPublish(t, js, "drill.events.prod.node-1.kernel"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("edit silences", func(t *testing.T) {
		kv, err := js.KeyValue(ctx, bus.BucketSilence)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kv.Put(ctx, "s1", []byte(`{"matchers":{"node":"node-1"}}`)); err != nil {
			t.Fatal(err)
		}
		e, err := kv.Get(ctx, "s1")
		if err != nil || string(e.Value()) == "" {
			t.Fatalf("get: %v", err)
		}
		if err := kv.Delete(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("read EVENTS with direct gets", func(t *testing.T) {
		msgs, err := jetstreamext.GetBatch(ctx, js, bus.StreamEvents, 10, jetstreamext.GetBatchSeq(1))
		if err != nil {
			t.Fatal(err)
		}
		var subjects []string
		for m, err := range msgs {
			if err != nil {
				break
			}
			subjects = append(subjects, m.Subject)
		}
		if len(subjects) != 1 || subjects[0] != "drill.events.prod.node-1.kernel" {
			t.Fatalf("read %v", subjects)
		}
	})
	t.Run("watch alerts as they are stored", func(t *testing.T) {
		if _, err := router.JS.Publish(ctx, "alerts.drill.x", []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		m, err := live.NextMsg(5 * time.Second)
		if err != nil || m.Subject != "alerts.drill.x" {
			t.Fatalf("live alert: %v, %v", m, err)
		}
	})
	t.Run("no consumer can be created or edited", func(t *testing.T) {
		// The router's durable consumer, as the router makes it.
		want := jetstream.ConsumerConfig{Durable: "router", AckPolicy: jetstream.AckExplicitPolicy, FilterSubject: "events.>"}
		if _, err := router.JS.CreateOrUpdateConsumer(ctx, bus.StreamEvents, want); err != nil {
			t.Fatal(err)
		}
		edit := want
		edit.FilterSubject = "nothing.>"
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		if _, err := js.CreateOrUpdateConsumer(actx, bus.StreamEvents, edit); err == nil {
			t.Error("the operator edited the router's consumer")
		}
		oc, err := js.OrderedConsumer(actx, bus.StreamEvents, jetstream.OrderedConsumerConfig{})
		if err == nil {
			if _, err = oc.Next(jetstream.FetchMaxWait(time.Second)); err == nil {
				t.Error("the operator read through an ephemeral consumer")
			}
		}
		c, err := router.JS.Consumer(ctx, bus.StreamEvents, "router")
		if err != nil {
			t.Fatal(err)
		}
		if got := c.CachedInfo().Config.FilterSubject; got != want.FilterSubject {
			t.Fatalf("router consumer filter %q after the attempts, want %q", got, want.FilterSubject)
		}
	})
	forbidden(t, nc, errs, "publish",
		"events.prod.node-1.kernel",
		"alerts.prod.firing",
		"dlq.events",
		"$KV.ALERT_STATE.x",
		"$KV.ROUTERS.lease.notifier",
		"$JS.API.STREAM.DELETE.EVENTS",
		"$JS.API.STREAM.PURGE.EVENTS",
		"$JS.API.STREAM.UPDATE.EVENTS",
		"$JS.API.STREAM.MSG.DELETE.EVENTS",
		"$JS.API.CONSUMER.CREATE.EVENTS",
		"$JS.API.CONSUMER.CREATE.EVENTS.router",
		"$JS.API.CONSUMER.CREATE.EVENTS.router.events.>",
		"$JS.API.CONSUMER.DURABLE.CREATE.EVENTS.mine",
		"$JS.API.CONSUMER.DELETE.EVENTS.router",
		"$JS.API.CONSUMER.MSG.NEXT.EVENTS.router",
		"$JS.ACK.EVENTS.router.1.1.1.1.0",
	)
	forbidden(t, nc, errs, "subscription", "_INBOX.>", "_INBOX_ROUTER.>", "$KV.ALERT_STATE.>", "dlq.>", ">")
}

func TestUnknownUserRefused(t *testing.T) {
	sec := startSecured(t)
	kp, _ := nkeys.CreateUser()
	seed, _ := kp.Seed()
	path := sec.dir + "/stranger.nk"
	writeFile(t, path, string(seed))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := bus.Connect(ctx, bus.Options{URL: sec.url, NKey: path, TLSCA: sec.tls.CA}, nil)
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("stranger: got %v, want an authorization error", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("gave up only at the deadline (%s): auth errors must not be retried", time.Since(start))
	}
	_, err = bus.Connect(ctx, bus.Options{URL: sec.url, TLSCA: sec.tls.CA}, nil)
	if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("no credentials: got %v, want an authorization error", err)
	}
}

package lane

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus/bustest"
)

// natsMeta is nats.go's reading of reply (the same parser as
// jetstream.Msg.Metadata).
func natsMeta(reply string) (meta, error) {
	md, err := (&nats.Msg{Reply: reply, Sub: &nats.Subscription{}}).Metadata()
	if err != nil {
		return meta{}, err
	}
	return meta{stream: md.Sequence.Stream, consumer: md.Sequence.Consumer, pending: md.NumPending, timestamp: md.Timestamp}, nil
}

func TestParseAckReply(t *testing.T) {
	const ts = "1764843658123456789"
	for _, tc := range []struct {
		reply string
		ok    bool
	}{
		{"$JS.ACK.EVENTS.router.1.42.7." + ts + ".3", true},                       // v1
		{"$JS.ACK._.HASH.EVENTS.router.2.42.7." + ts + ".3.TOKEN", true},          // v2
		{"$JS.ACK.hub.HASH.EVENTS.router.1.42.7." + ts + ".0", true},              // v2 without the last token
		{"$JS.ACK.hub.HASH.EVENTS.router.1.42.7." + ts + ".0.TOKEN.more.x", true}, // later tokens are not read
		{"$JS.ACK.EVENTS.router.1.42.7." + ts, false},                             // 8 tokens
		{"$JS.ACK.x.EVENTS.router.1.42.7." + ts + ".3", false},                    // 10 tokens
		{"$JS.ACK.EVENTS.router.1.4x2.7." + ts + ".3", false},                     // not a number: left to nats.go
		{"$JS.ACK.EVENTS.router.1..7." + ts + ".3", false},                        // empty number
		{"$JS.ACK.EVENTS.router.1.42.7.99999999999999999999.3", false},            // 20 digits
		{"$JS.NAK.EVENTS.router.1.42.7." + ts + ".3", false},
		{"", false},
	} {
		got, ok := parseAckReply(tc.reply)
		if ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.reply, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		want, err := natsMeta(tc.reply)
		if err != nil {
			t.Fatalf("%q: nats.go: %v", tc.reply, err)
		}
		if got != want {
			t.Errorf("%q: %+v, nats.go reads %+v", tc.reply, got, want)
		}
		if got.stream != 42 || got.consumer != 7 || got.timestamp.UnixNano() != 1764843658123456789 {
			t.Errorf("%q: %+v", tc.reply, got)
		}
	}
}

// FuzzParseAckReply: whatever the subject, a reading parseAckReply
// accepts is nats.go's.
func FuzzParseAckReply(f *testing.F) {
	f.Add("$JS.ACK.EVENTS.router.1.42.7.1764843658123456789.3")
	f.Add("$JS.ACK._.HASH.EVENTS.router.2.42.7.1764843658123456789.3.TOKEN")
	f.Add("$JS.ACK.a.b.c.d.e.f.g.h.i.j.k.l")
	f.Fuzz(func(t *testing.T, reply string) {
		got, ok := parseAckReply(reply)
		if !ok {
			return
		}
		want, err := natsMeta(reply)
		if err != nil {
			t.Fatalf("%q: parsed as %+v, nats.go refuses it: %v", reply, got, err)
		}
		if got != want {
			t.Fatalf("%q: %+v, nats.go reads %+v", reply, got, want)
		}
	})
}

// deliveries are n messages as a real server delivers them to a
// durable pull consumer.
func deliveries(tb testing.TB, n int) []jetstream.Msg {
	tb.Helper()
	c := bustest.Connect(tb, bustest.Server(tb))
	ctx := context.Background()
	s, err := c.JS.CreateStream(ctx, jetstream.StreamConfig{Name: "T", Subjects: []string{"t.>"}})
	if err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		if _, err := c.JS.Publish(ctx, fmt.Sprintf("t.%d", i), []byte("{}")); err != nil {
			tb.Fatal(err)
		}
	}
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{Durable: "d", AckPolicy: jetstream.AckExplicitPolicy})
	if err != nil {
		tb.Fatal(err)
	}
	b, err := cons.Fetch(n, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		tb.Fatal(err)
	}
	var out []jetstream.Msg
	for m := range b.Messages() {
		out = append(out, m)
	}
	if len(out) != n {
		tb.Fatalf("%d deliveries, want %d", len(out), n)
	}
	return out
}

func TestMetaOfRealDeliveries(t *testing.T) {
	for i, m := range deliveries(t, 5) {
		got, err := metaOf(m)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := parseAckReply(m.Reply()); !ok {
			t.Errorf("the server's reply subject %q is not parsed in one pass", m.Reply())
		}
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		want := meta{stream: md.Sequence.Stream, consumer: md.Sequence.Consumer, pending: md.NumPending, timestamp: md.Timestamp}
		if got != want || got.stream != uint64(i+1) || got.pending != uint64(4-i) {
			t.Errorf("delivery %d: %+v, Metadata says %+v", i, got, want)
		}
	}
}

// BenchmarkMeta: the lane's reading of a delivery's metadata against
// jetstream.Msg.Metadata, on a message from a real server.
func BenchmarkMeta(b *testing.B) {
	m := deliveries(b, 1)[0]
	b.Run("metaOf", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := metaOf(m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Metadata", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := m.Metadata(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package dispatch

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
)

// bigLog is a group's log that told n alerts.
func bigLog(group string, n int) *LogRecord {
	at := time.Date(2026, 12, 4, 3, 0, 0, 0, time.UTC)
	r := &LogRecord{GroupID: group, Receiver: "oncall", Route: "r0", Labels: map[string]string{"cluster": "prod"}, At: at, Ref: "C1/171.1",
		Firing: map[string]string{}, Updates: map[string]int{}, Starts: map[string]time.Time{}}
	for i := range n {
		fp := fmt.Sprintf("%016x", i)
		r.Firing[fp], r.Updates[fp], r.Starts[fp] = "01JALERT"+fp, i%3, at.Add(-time.Duration(i)*time.Second)
	}
	return r
}

// storedKeys lists the bucket's live keys with prefix.
func storedKeys(t *testing.T, js jetstream.JetStream, prefix string) []string {
	t.Helper()
	kv, err := js.KeyValue(context.Background(), bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := kv.Keys(context.Background())
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range keys {
		if strings.HasPrefix(k, prefix) {
			out = append(out, k)
		}
	}
	return out
}

// TestLogInParts: a notification log bigger than a message is stored in
// parts and read back whole by the next start, at NATS's real limit (a
// group of 20 000 alerts, 2.2 MB) and at a small part size; a smaller
// version purges the parts it no longer needs, and deleting the log
// deletes its parts.
func TestLogInParts(t *testing.T) {
	for _, tc := range []struct {
		name       string
		part       int // 0: the connection's max payload
		big, small int
		parts      int // of the big log
	}{
		{"max payload", 0, 20_000, 100, 3},
		{"small parts", 4096, 400, 20, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			conn := bustest.Connect(t, bustest.Server(t))
			open := func() *KVStore {
				st, err := NewKVStore(ctx, conn.JS, bus.BucketState)
				if err != nil {
					t.Fatal(err)
				}
				st.maxPart = tc.part
				t.Cleanup(st.Close)
				return st
			}
			load := func(st *KVStore) []*LogRecord {
				_, logs, err := st.Load(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if bad := st.Rejected(); len(bad) > 0 {
					t.Fatalf("rejected: %v", bad)
				}
				return logs
			}
			st := open()
			big := bigLog("g1", tc.big)
			if err := st.PutLog(big).Wait(ctx); err != nil {
				t.Fatalf("a log of %d alerts: %v", tc.big, err)
			}
			parts := storedKeys(t, conn.JS, keyLogPart)
			if len(parts) < 2 || tc.parts > 0 && len(parts) != tc.parts {
				t.Fatalf("parts %v", parts)
			}
			next := open()
			logs := load(next)
			if len(logs) != 1 || !reflect.DeepEqual(logs[0], big) {
				t.Fatalf("read back %d logs; equal to the one written: %v", len(logs), len(logs) == 1 && reflect.DeepEqual(logs[0], big))
			}

			// The store that read the parts purges them when the log
			// shrinks to one message.
			if err := next.PutLog(bigLog("g1", tc.small)).Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if left := storedKeys(t, conn.JS, keyLogPart); len(left) != 0 {
				t.Fatalf("parts left after the log shrank: %v", left)
			}
			if logs := load(open()); len(logs) != 1 || len(logs[0].Firing) != tc.small || logs[0].Parts != nil {
				t.Fatalf("read back %+v", logs)
			}

			if err := next.PutLog(big).Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if err := next.DeleteLog("g1").Wait(ctx); err != nil {
				t.Fatal(err)
			}
			if left := storedKeys(t, conn.JS, keyLog[:len(keyLog)-1]); len(left) != 0 {
				t.Fatalf("keys left after the log was deleted: %v", left)
			}
		})
	}
}

// TestLogPartsCutShort: parts that do not match their head (a crash
// between writing them and the head) refuse that log alone: the group
// pages again, as it would have with no log, and the other logs load.
// Parts no log names are purged before anything is written.
func TestLogPartsCutShort(t *testing.T) {
	ctx := context.Background()
	conn := bustest.Connect(t, bustest.Server(t))
	st, err := NewKVStore(ctx, conn.JS, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	st.maxPart = 4096
	defer st.Close()
	for _, l := range []*LogRecord{bigLog("g1", 400), bigLog("g2", 400), bigLog("g3", 5)} {
		if err := st.PutLog(l).Wait(ctx); err != nil {
			t.Fatal(err)
		}
	}
	kv, err := conn.JS.KeyValue(ctx, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	// g1: a newer version's first part, its head never written; g2: a
	// part lost.
	if _, err := kv.Put(ctx, logPartKey("g1", 0), []byte(`{"group_id":"g1","receiver":"oncall","firing":{`)); err != nil {
		t.Fatal(err)
	}
	if err := kv.Purge(ctx, logPartKey("g2", 1)); err != nil {
		t.Fatal(err)
	}
	next, err := NewKVStore(ctx, conn.JS, bus.BucketState)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	_, logs, err := next.Load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 1 || logs[0].GroupID != "g3" {
		t.Fatalf("loaded %d logs, want g3 alone", len(logs))
	}
	if left := storedKeys(t, conn.JS, keyLogPart); len(left) != 0 {
		t.Errorf("parts no log names were kept: %v", left)
	}
	bad := fmt.Sprint(next.Rejected())
	for _, want := range []string{"nflog.g1: its ", " parts are not the log it names", "nflog.g2: part 1 of "} {
		if !strings.Contains(bad, want) {
			t.Errorf("rejected %s, want %q", bad, want)
		}
	}
}

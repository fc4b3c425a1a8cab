package silence_test

import (
	"context"
	"errors"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/silence"
)

var now = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func good() *silence.Silence {
	return &silence.Silence{ID: "s1", Matchers: []string{`node="n1"`, `rule=~"dns-.*"`}, StartsAt: now, EndsAt: now.Add(time.Hour),
		CreatedBy: "alice", Comment: "rebooting n1 for the kernel upgrade"}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		edit func(*silence.Silence)
		want string
	}{
		{"good", func(*silence.Silence) {}, ""},
		{"no matchers", func(s *silence.Silence) { s.Matchers = nil }, "at least one is required"},
		{"bad matcher", func(s *silence.Silence) { s.Matchers = []string{"node~n1"} }, "matchers: matcher"},
		{"bad regexp", func(s *silence.Silence) { s.Matchers = []string{`node=~"("`} }, "missing closing"},
		{"ends before start", func(s *silence.Silence) { s.EndsAt = s.StartsAt.Add(-time.Minute) }, "is not after starts_at"},
		{"no times", func(s *silence.Silence) { s.EndsAt = time.Time{} }, "starts_at and ends_at are required"},
		{"no author", func(s *silence.Silence) { s.CreatedBy = " " }, "created_by"},
		{"no comment", func(s *silence.Silence) { s.Comment = "" }, "comment: say why"},
		{"bad id", func(s *silence.Silence) { s.ID = "a b" }, `id "a b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := good()
			tt.edit(s)
			_, err := s.Validate()
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Errorf("err %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	for name, tc := range map[string]struct{ key, json, want string }{
		"unknown field": {"s1", `{"matchers":["a=b"],"starts_at":"2026-01-01T00:00:00Z","ends_at":"2026-01-02T00:00:00Z","created_by":"a","comment":"c","ends":"x"}`, "unknown field"},
		"id mismatch":   {"s1", `{"id":"s2","matchers":["a=b"],"starts_at":"2026-01-01T00:00:00Z","ends_at":"2026-01-02T00:00:00Z","created_by":"a","comment":"c"}`, "differs from its key"},
		"not json":      {"s1", `{"matchers":`, "unexpected EOF"},
		"key is the id": {"s9", `{"matchers":["a=b"],"starts_at":"2026-01-01T00:00:00Z","ends_at":"2026-01-02T00:00:00Z","created_by":"a","comment":"c"}`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			s, _, err := silence.Decode(tc.key, []byte(tc.json))
			if tc.want == "" {
				if err != nil || s.ID != tc.key {
					t.Fatalf("decode: %v %+v", err, s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
		})
	}
}

func TestStateAt(t *testing.T) {
	s := good()
	for at, want := range map[time.Time]silence.State{
		now.Add(-time.Second): silence.Pending, now: silence.Active, now.Add(59 * time.Minute): silence.Active, now.Add(time.Hour): silence.Expired,
	} {
		if got := s.StateAt(at); got != want {
			t.Errorf("at %s: %s, want %s", at, got, want)
		}
	}
}

func bucket(t *testing.T) (jetstream.KeyValue, jetstream.JetStream, string) {
	t.Helper()
	srv := bustest.Server(t)
	conn := bustest.Connect(t, srv)
	kv, err := conn.JS.KeyValue(context.Background(), bus.BucketSilence)
	if err != nil {
		t.Fatal(err)
	}
	return kv, conn.JS, srv.ClientURL()
}

// TestStoreAndWatch: silences added, listed and expired through the store
// are seen by a watching Set, which mutes matching alerts only while active.
func TestStoreAndWatch(t *testing.T) {
	kv, js, _ := bucket(t)
	ctx := context.Background()
	set, err := silence.Watch(t.Context(), kv, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	s := good()
	s.ID = ""
	if err := silence.Add(ctx, kv, s, now); err != nil {
		t.Fatal(err)
	}
	if err := silence.Add(ctx, kv, s, now); err == nil {
		t.Fatal("adding the same id twice succeeded")
	}
	bustest.Eventually(t, "watch sees the silence", func() bool { return set.Len() == 1 })
	match := map[string]string{"node": "n1", "rule": "dns-timeouts"}
	if id, ok := set.Muted(match, now.Add(time.Minute)); !ok || id != s.ID {
		t.Errorf("active silence does not mute: %q %v", id, ok)
	}
	if _, ok := set.Muted(map[string]string{"node": "n2", "rule": "dns-timeouts"}, now.Add(time.Minute)); ok {
		t.Error("other node muted")
	}
	if _, ok := set.Muted(match, now.Add(-time.Minute)); ok {
		t.Error("pending silence mutes")
	}
	list, bad, err := silence.List(ctx, js, bus.BucketSilence)
	if err != nil || len(bad) > 0 || len(list) != 1 || list[0].CreatedBy != "alice" {
		t.Fatalf("list %v %v %v", list, bad, err)
	}
	if _, err := silence.Expire(ctx, kv, s.ID, now.Add(10*time.Minute)); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "expiry seen", func() bool {
		_, ok := set.Muted(match, now.Add(11*time.Minute))
		return !ok
	})
	if _, err := silence.Expire(ctx, kv, "nope", now); !errors.Is(err, silence.ErrNotFound) {
		t.Errorf("expire unknown: %v", err)
	}
}

// TestNATSCLI: the bucket is plain JSON for the standard `nats kv` CLI: a
// silence written by hand is obeyed, a broken one is reported and ignored
// without disturbing the rest, and one made by Add reads back.
func TestNATSCLI(t *testing.T) {
	cli := bustest.NATSCLI(t)
	kv, _, url := bucket(t)
	set, err := silence.Watch(t.Context(), kv, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	nats := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(cli, append([]string{"--server", url}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nats %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	start, end := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339), time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	nats("kv", "put", bus.BucketSilence, "maint-n7",
		`{"matchers":["node=\"n7\""],"starts_at":"`+start+`","ends_at":"`+end+`","created_by":"bob","comment":"disk swap"}`)
	nats("kv", "put", bus.BucketSilence, "broken", `{"matchers":["node=n8"]`)
	bustest.Eventually(t, "hand-written silences seen", func() bool { return set.Len() == 1 && set.Invalid() == 1 })
	if id, ok := set.Muted(map[string]string{"node": "n7"}, time.Now()); !ok || id != "maint-n7" {
		t.Errorf("hand-written silence does not mute: %q %v", id, ok)
	}

	s := good()
	s.ID = "from-add"
	if err := silence.Add(context.Background(), kv, s, now); err != nil {
		t.Fatal(err)
	}
	raw := nats("kv", "get", bus.BucketSilence, "from-add", "--raw")
	got, _, err := silence.Decode("from-add", []byte(strings.TrimSpace(raw)))
	if err != nil || got.Comment != s.Comment || !got.EndsAt.Equal(s.EndsAt) {
		t.Fatalf("nats kv get: %v %+v\n%s", err, got, raw)
	}
	nats("kv", "del", bus.BucketSilence, "maint-n7", "--force")
	bustest.Eventually(t, "deleted silence gone", func() bool {
		_, ok := set.Muted(map[string]string{"node": "n7"}, time.Now())
		return !ok
	})
}

// TestReplace: a live silence is changed in place (creation time kept), an
// expired one or an unknown id is refused, and a bad change is rejected
// without touching the stored silence.
func TestReplace(t *testing.T) {
	kv, js, _ := bucket(t)
	ctx := context.Background()
	s := good()
	if err := silence.Add(ctx, kv, s, now); err != nil {
		t.Fatal(err)
	}
	ch := good()
	ch.Matchers, ch.Comment = []string{`node="n2"`}, "n2 instead"
	if err := silence.Replace(ctx, kv, ch, now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	list, _, err := silence.List(ctx, js, bus.BucketSilence)
	if err != nil || len(list) != 1 || list[0].Matchers[0] != `node="n2"` || !list[0].CreatedAt.Equal(now) || !list[0].UpdatedAt.Equal(now.Add(time.Minute)) {
		t.Fatalf("after replace: %v %+v", err, list[0])
	}
	bad := good()
	bad.Comment = ""
	if err := silence.Replace(ctx, kv, bad, now); err == nil || !strings.Contains(err.Error(), "comment") {
		t.Errorf("bad change: %v", err)
	}
	unknown := good()
	unknown.ID = "nope"
	if err := silence.Replace(ctx, kv, unknown, now); !errors.Is(err, silence.ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
	if err := silence.Replace(ctx, kv, good(), now.Add(2*time.Hour)); !errors.Is(err, silence.ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	list, _, _ = silence.List(ctx, js, bus.BucketSilence)
	if list[0].Comment != "n2 instead" {
		t.Errorf("refused changes were stored: %+v", list[0])
	}
}

// TestForeignEntryDoesNotEraseASilence: something that is not a silence
// written over one (a JetStream ack stored by reply-subject injection, a
// typo) is counted and ignored; the silence stays in force.
func TestForeignEntryDoesNotEraseASilence(t *testing.T) {
	kv, _, _ := bucket(t)
	ctx := context.Background()
	set, err := silence.Watch(t.Context(), kv, bustest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := silence.Add(ctx, kv, good(), now); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "the silence", func() bool { return set.Len() == 1 })
	for _, foreign := range []string{`{"stream":"EVENTS","seq":7}`, `{"stream":"EVENTS","seq":8,"duplicate": true}`, `not json`} {
		if _, err := kv.Put(ctx, "s1", []byte(foreign)); err != nil {
			t.Fatal(err)
		}
	}
	bustest.Eventually(t, "the foreign entries counted", func() bool { return set.Rejected() == 3 })
	if set.Invalid() != 1 {
		t.Errorf("invalid keys %d, want 1", set.Invalid())
	}
	if id, ok := set.Muted(map[string]string{"node": "n1", "rule": "dns-x"}, now.Add(time.Minute)); !ok || id != "s1" {
		t.Fatalf("the silence was erased by a foreign entry: %q %v", id, ok)
	}
	if err := kv.Delete(ctx, "s1"); err != nil {
		t.Fatal(err)
	}
	bustest.Eventually(t, "a delete ends it", func() bool { return set.Len() == 0 })
}

// TestList: the listing (direct gets, no consumer: operators' accounts
// may not create one) sees added, expired and replaced silences, not
// deleted ones, and the entries that are not silences; and it sees every
// silence while they are being rewritten, where nats.go's key listing,
// used before, could come back short.
func TestList(t *testing.T) {
	kv, js, _ := bucket(t)
	ctx := context.Background()
	for _, id := range []string{"a", "b", "c"} {
		s := good()
		s.ID = id
		if err := silence.Add(ctx, kv, s, now); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := silence.Expire(ctx, kv, "a", now.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := kv.Delete(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, "junk", []byte(`{"stream":"EVENTS","seq":1}`)); err != nil {
		t.Fatal(err)
	}
	ids := func(ss []*silence.Silence) (out []string) {
		for _, s := range ss {
			out = append(out, s.ID+"@"+s.EndsAt.Format(time.RFC3339))
		}
		slices.Sort(out)
		return out
	}
	want := []string{"a@" + now.Add(time.Minute).Format(time.RFC3339), "c@" + good().EndsAt.Format(time.RFC3339)}
	got, bad, err := silence.List(ctx, js, bus.BucketSilence)
	if err != nil || !slices.Equal(ids(got), want) || len(bad) != 1 || !strings.Contains(bad[0].Error(), "junk") {
		t.Fatalf("List %v (bad %v, err %v), want %v and junk refused", ids(got), bad, err, want)
	}

	// Rewritten as fast as the server takes it, every silence is listed.
	bustest.Rewrite(t, kv, "a", "c")
	for i := range 200 {
		got, _, err := silence.List(ctx, js, bus.BucketSilence)
		if err != nil || !slices.Equal(ids(got), want) {
			t.Fatalf("listing %d while rewritten: %v (err %v), want %v", i, ids(got), err, want)
		}
	}
}

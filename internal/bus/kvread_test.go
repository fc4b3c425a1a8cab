package bus_test

import (
	"context"
	"maps"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
)

// TestReadKV: the live keys with their latest values; a deleted or purged
// key is gone, one written again after its deletion is back.
func TestReadKV(t *testing.T) {
	c := bustest.Connect(t, bustest.Server(t))
	ctx := context.Background()
	kv, err := c.JS.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "T"})
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []func() error{
		func() error { _, err := kv.Put(ctx, "a", []byte("1")); return err },
		func() error { _, err := kv.Put(ctx, "b", []byte("1")); return err },
		func() error { _, err := kv.Put(ctx, "c", []byte("1")); return err },
		func() error { _, err := kv.Put(ctx, "a", []byte("2")); return err },
		func() error { return kv.Delete(ctx, "b") },
		func() error { return kv.Purge(ctx, "c") },
		func() error { _, err := kv.Put(ctx, "d", []byte("1")); return err },
		func() error { return kv.Delete(ctx, "d") },
		func() error { _, err := kv.Put(ctx, "d", []byte("3")); return err },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := bus.ReadKV(ctx, c.JS, "T")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]byte{"a": []byte("2"), "d": []byte("3")}
	if !maps.EqualFunc(got, want, func(x, y []byte) bool { return string(x) == string(y) }) {
		t.Errorf("read %q, want %q", got, want)
	}
}

package bustest

import (
	"context"
	"sync"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
)

// Rewrite puts each key's current value back into kv, over and over, as
// fast as the server takes it, until the test ends: readers of the bucket
// meet revisions replaced while they read (heartbeats, edited silences).
func Rewrite(tb testing.TB, kv jetstream.KeyValue, keys ...string) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, k := range keys {
		wg.Go(func() {
			for ctx.Err() == nil {
				if e, err := kv.Get(ctx, k); err == nil {
					_, _ = kv.Put(ctx, k, e.Value())
				}
			}
		})
	}
	tb.Cleanup(func() { cancel(); wg.Wait() })
}

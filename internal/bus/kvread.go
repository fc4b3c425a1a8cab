package bus

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/synadia-io/orbit.go/jetstreamext"
)

// ReadKV returns the live keys of a KV bucket and their values, read from
// the bucket's stream in order to its end with batched direct gets. nats.go's
// key listing came back short, even empty, while keys were being rewritten
// (router heartbeats, edited silences); read in order to the end, a key's
// new revision is always seen, whenever the old one went. It needs no
// consumer, which an operator's account may not create (docs/deploy.md).
func ReadKV(ctx context.Context, js jetstream.JetStream, bucket string) (map[string][]byte, error) {
	prefix := "$KV." + bucket + "."
	latest := map[string][]byte{}
	for next := uint64(1); ; {
		msgs, err := jetstreamext.GetBatch(ctx, js, "KV_"+bucket, 256, jetstreamext.GetBatchSeq(next))
		if err != nil {
			return nil, fmt.Errorf("read bucket %s: %w", bucket, err)
		}
		n := 0
		for m, err := range msgs {
			if errors.Is(err, jetstreamext.ErrNoMessages) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("read bucket %s: %w", bucket, err)
			}
			n++
			next = m.Sequence + 1
			key := strings.TrimPrefix(m.Subject, prefix)
			if op := m.Header.Get("KV-Operation"); op == "DEL" || op == "PURGE" || m.Header.Get(jetstream.MarkerReasonHeader) != "" {
				delete(latest, key)
				continue
			}
			latest[key] = m.Data
		}
		if n == 0 {
			return latest, nil
		}
	}
}

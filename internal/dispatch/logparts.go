package dispatch

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A group's notification log names every alert it told (about 130 bytes
// each), and NATS refuses a message over its max_payload (1 MiB by
// default): a group of some 8 000 alerts could not store its log, and a
// restart paged all of them again. A log too big for one message is
// written in parts (nflogpart.<group>.<k>) before its head (nflog.<group>,
// the log without its alerts, naming the parts' count, size and digest).
// A crash between the parts and the head leaves parts that do not match
// the head: the log is refused at the next start, and the group pages
// once more, as it would have without a log.

const keyLogPart = "nflogpart."

// LogParts says that a notification log's record is stored in parts.
type LogParts struct {
	Count  int    `json:"count"`
	Bytes  int    `json:"bytes"`
	SHA256 string `json:"sha256"`
}

func logPartKey(group string, k int) string {
	return keyLogPart + group + "." + strconv.Itoa(k)
}

// partSize is the largest value the store writes in one message.
func (s *KVStore) partSize() int {
	if s.maxPart > 0 {
		return s.maxPart
	}
	limit := int64(1 << 20)
	if mp := s.js.Conn().MaxPayload(); mp > 0 {
		limit = mp
	}
	return int(limit) - 1024 // the subject and protocol line
}

// splitLog turns w, a notification log's write, into its parts and head
// when it is too big for one message, and purges the parts of an earlier
// version that this one no longer has. It runs on the writer.
func (s *KVStore) splitLog(w *write, rec *LogRecord) error {
	limit := s.partSize()
	n := 0
	if data := w.m.Data; len(data) > limit {
		n = (len(data) + limit - 1) / limit
		for k := range n {
			w.before = append(w.before, &nats.Msg{Subject: s.prefix + logPartKey(rec.GroupID, k), Data: data[k*limit : min(len(data), (k+1)*limit)]})
		}
		sum := sha256.Sum256(data)
		head := *rec
		head.Firing, head.Updates, head.Starts = nil, nil, nil
		head.Parts = &LogParts{Count: n, Bytes: len(data), SHA256: hex.EncodeToString(sum[:])}
		b, err := json.Marshal(&head)
		if err != nil {
			return fmt.Errorf("encode %s: %w", w.key, err)
		}
		w.m.Data = b
	}
	s.dropParts(w, rec.GroupID, n)
	return nil
}

// dropParts purges, after w, the parts of group's log from k on, and
// remembers that it has k.
func (s *KVStore) dropParts(w *write, group string, k int) {
	s.mu.Lock()
	had := s.parts[group]
	if k > 0 {
		s.parts[group] = k
	} else {
		delete(s.parts, group)
	}
	s.mu.Unlock()
	for ; k < had; k++ {
		w.after = append(w.after, purgeMsg(s.prefix+logPartKey(group, k)))
	}
}

// joinParts reads the parts head names and decodes the whole log.
func (s *KVStore) joinParts(ctx context.Context, head *LogRecord) (*LogRecord, error) {
	key := keyLog + head.GroupID
	p := head.Parts
	data := make([]byte, 0, max(p.Bytes, 0))
	for k := range p.Count {
		e, err := s.kv.Get(ctx, logPartKey(head.GroupID, k))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, fmt.Errorf("key %s: part %d of %d missing", key, k, p.Count)
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", key, err)
		}
		data = append(data, e.Value()...)
	}
	if sum := sha256.Sum256(data); len(data) != p.Bytes || hex.EncodeToString(sum[:]) != p.SHA256 {
		return nil, fmt.Errorf("key %s: its %d parts are not the log it names (a write cut short)", key, p.Count)
	}
	r, err := decodeLogRecord(key, data)
	if err == nil && r.Parts != nil {
		err = fmt.Errorf("key %s: parts of parts", key)
	}
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.parts[head.GroupID] = p.Count
	s.mu.Unlock()
	return r, nil
}

// purgeOrphanParts removes the parts no log names (a crash after writing
// them, or between deleting a log and its parts), before anything is
// written: a purge racing a new part would remove it.
func (s *KVStore) purgeOrphanParts(ctx context.Context, keys []string) error {
	var st jetstream.Stream
	for _, key := range keys {
		group, k, _ := strings.Cut(strings.TrimPrefix(key, keyLogPart), ".")
		n, err := strconv.Atoi(k)
		s.mu.Lock()
		named := err == nil && n < s.parts[group]
		s.mu.Unlock()
		if named {
			continue
		}
		if st == nil {
			if st, err = s.js.Stream(ctx, s.stream); err != nil {
				return fmt.Errorf("purge orphan log parts: %w", err)
			}
		}
		if err := st.Purge(ctx, jetstream.WithPurgeSubject(s.prefix+key)); err != nil {
			return fmt.Errorf("purge orphan log part %s: %w", key, err)
		}
	}
	return nil
}

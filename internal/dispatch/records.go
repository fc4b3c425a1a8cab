package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"
)

// What the router writes in ALERT_STATE, decoded with the checks every
// reader makes: a record must be of its key's kind and name its key
// (alert.<fingerprint>, nflog.<group id>, history.<fingerprint>). Anything
// else (a JetStream ack stored there by a reply subject, a hand edit) is
// not the router's, and readers leave it aside.

func decodeAlertRecord(key string, b []byte) (*AlertRecord, error) {
	var r AlertRecord
	err := json.Unmarshal(b, &r)
	if err == nil && (r.Alert == nil || r.Alert.ID == "" || keyAlert+r.Alert.Fingerprint != key) {
		err = errors.New("not an alert record of this key")
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", key, err)
	}
	return &r, nil
}

func decodeLogRecord(key string, b []byte) (*LogRecord, error) {
	var r LogRecord
	err := json.Unmarshal(b, &r)
	if err == nil && (r.Receiver == "" || keyLog+r.GroupID != key) {
		err = errors.New("not a notification log of this key")
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", key, err)
	}
	return &r, nil
}

func decodeHistory(key string, b []byte) (*History, error) {
	var h History
	err := json.Unmarshal(b, &h)
	if err == nil && keyHistory+h.Fingerprint != key {
		err = errors.New("not a notification history of this key")
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", key, err)
	}
	return &h, nil
}

// stopWatch stops w and reads what it still delivers until it is closed:
// a KV watcher's delivery blocks on its full updates channel, and a
// subscription stuck there keeps the connection's drain (a router's
// Close) waiting for its timeout.
func stopWatch(w jetstream.KeyWatcher) {
	_ = w.Stop()
	go func() {
		for range w.Updates() {
		}
	}()
}

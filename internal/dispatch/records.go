package dispatch

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/jsonscan"
)

// What the router writes in ALERT_STATE, decoded with the checks every
// reader makes: a record must be of its key's kind and name its key
// (alert.<fingerprint>, nflog.<group id>, history.<fingerprint>). Anything
// else (a JetStream ack stored there by a reply subject, a hand edit) is
// not the router's, and readers leave it aside.

func decodeAlertRecord(key string, b []byte) (*AlertRecord, error) {
	var r AlertRecord
	var err error
	if !scanAlertRecord(b, &r) {
		r = AlertRecord{}
		err = json.Unmarshal(b, &r)
	}
	if err == nil && (r.Alert == nil || r.Alert.ID == "" || keyAlert+r.Alert.Fingerprint != key) {
		err = errors.New("not an alert record of this key")
	}
	if err != nil {
		return nil, fmt.Errorf("key %s: %w", key, err)
	}
	return &r, nil
}

// scanAlertRecord is decodeAlertRecord's fast path, the alert read by
// alert.ScanFast: a start reads tens of thousands of records, and the web
// view every record it shows. False leaves the record to encoding/json
// (see alert.ScanFast); FuzzAlertRecordParity holds it to that.
func scanAlertRecord(b []byte, r *AlertRecord) bool {
	s := jsonscan.New(b)
	s.WS()
	var seenAlert, seenNews bool
	return s.Object(func(key []byte) bool {
		switch string(key) {
		case "alert":
			if seenAlert || s.Peek() != '{' {
				return false
			}
			seenAlert, r.Alert = true, &alert.Alert{}
			return alert.ScanFast(&s, r.Alert)
		case "updated":
			return s.Time(&r.Updated)
		case "news":
			if seenNews {
				return false
			}
			seenNews, r.News = true, []News{}
			return s.Array(func() bool {
				r.News = append(r.News, News{})
				return scanNews(&s, &r.News[len(r.News)-1])
			})
		}
		return false
	}) && s.End()
}

func scanNews(s *jsonscan.Scanner, n *News) bool {
	seenNotes := false // a repeated array is merged by encoding/json: left to it
	return s.Object(func(key []byte) bool {
		var ok bool
		switch string(key) {
		case "update":
			var v int64
			v, ok = s.Int(strconv.IntSize)
			n.Update = int(v)
		case "notes":
			if !seenNotes {
				seenNotes = true
				n.Notes, ok = s.Strings()
			}
		}
		return ok
	})
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

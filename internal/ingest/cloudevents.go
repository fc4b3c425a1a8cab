package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/aftershock/aftershock/internal/event"
)

// BatchContentType is the media type of a CloudEvents JSON batch.
const BatchContentType = "application/cloudevents-batch+json"

// pending is one validated event ready to store.
type pending struct {
	id      string
	subject string
	data    []byte
}

// events parses POST /v1/events: one structured-mode CloudEvent, or a JSON
// array of them in batch mode. Every event is validated with the router's
// code (event.Decode); one bad event rejects the request, and the answer
// names each bad one.
func (h *Handler) events(r *http.Request, body []byte) ([]*pending, *httpError) {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil && ct != "" {
		return nil, unsupported(ct)
	}
	switch mt {
	case event.ContentType:
		p, prob := h.decodeOne(0, body)
		if prob != nil {
			return nil, badRequest("invalid event: "+prob.Reason, *prob)
		}
		return []*pending{p}, nil
	case BatchContentType:
		return h.decodeBatch(body)
	}
	return nil, unsupported(ct)
}

func unsupported(ct string) *httpError {
	return &httpError{status: http.StatusUnsupportedMediaType, outcome: "invalid",
		msg: fmt.Sprintf("content type %q: want %s (one event) or %s (a JSON array of events)", ct, event.ContentType, BatchContentType)}
}

func (h *Handler) decodeOne(i int, raw []byte) (*pending, *Problem) {
	var ev *event.Event
	var err error
	if h.opts.Local {
		ev, err = event.DecodeFor(raw, h.opts.Cluster, h.opts.Node)
		if err == nil && (ev.Cluster != h.opts.Cluster || ev.Node != h.opts.Node) {
			err = fmt.Errorf("%w: this agent speaks for cluster %q node %q, not cluster %q node %q; send it to that node's agent or the router's ingest",
				event.ErrSubjectMismatch, h.opts.Cluster, h.opts.Node, ev.Cluster, ev.Node)
		}
	} else {
		ev, err = event.Decode(raw)
	}
	if err == nil {
		err = admissible(ev)
	}
	if err != nil {
		prob := &Problem{Index: i, Reason: err.Error()}
		// Name the event when its id can be read, so the client can find it.
		var probe struct {
			ID string `json:"id"`
		}
		if json.Unmarshal(raw, &probe) == nil {
			prob.ID = probe.ID
		}
		return nil, prob
	}
	if h.opts.Local {
		// Re-encode: cluster and node may have been filled in.
		b, err := ev.Encode()
		if err != nil {
			return nil, &Problem{Index: i, ID: ev.ID, Reason: err.Error()}
		}
		return &pending{id: ev.ID, subject: ev.NATSSubject(false), data: b}, nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, &Problem{Index: i, ID: ev.ID, Reason: err.Error()}
	}
	return &pending{id: ev.ID, subject: ev.NATSSubject(false), data: buf.Bytes()}, nil
}

// ErrReservedType refuses, from applications, the types only aftershock
// itself emits.
var ErrReservedType = errors.New("type reserved for aftershock's own sources")

// reservedPrefixes are the namespaces of the collector's own events (what
// the kernel said, node heartbeats, reboots and posture, the spool) and the
// engine's: a forged node.reboot or kernel.panic from any pod would page
// people about a node crash that never happened.
var reservedPrefixes = []string{"node.", "kernel.", "collector."}

// typeAlert is the engine's own (rule.TypeAlert; rule is not linked into
// the collector).
const typeAlert = "aftershock.alert"

// admissible refuses reserved types and data that does not fit its type's
// schema (the one the rules are checked against), naming the field.
func admissible(ev *event.Event) error {
	if ev.Type == typeAlert || slices.ContainsFunc(reservedPrefixes, func(p string) bool { return strings.HasPrefix(ev.Type, p) }) {
		return fmt.Errorf("%w: %q: node.*, kernel.*, collector.* and aftershock.alert come from aftershock's collectors and rules only", ErrReservedType, ev.Type)
	}
	return event.CheckData(ev.Type, ev.Data)
}

func (h *Handler) decodeBatch(body []byte) ([]*pending, *httpError) {
	var raws []json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&raws); err != nil {
		return nil, badRequest(fmt.Sprintf("batch: %s: want a JSON array of events", err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, badRequest("batch: trailing data after the array")
	}
	if len(raws) == 0 {
		return nil, badRequest("batch: empty array")
	}
	var probs []Problem
	out := make([]*pending, 0, len(raws))
	seen := make(map[string]int, len(raws))
	for i, raw := range raws {
		p, prob := h.decodeOne(i, raw)
		if prob != nil {
			probs = append(probs, *prob)
			continue
		}
		if j, dup := seen[p.id]; dup {
			probs = append(probs, Problem{Index: i, ID: p.id, Reason: fmt.Sprintf("duplicate id: event %d has the same id", j)})
			continue
		}
		seen[p.id] = i
		out = append(out, p)
	}
	if len(probs) > 0 {
		return nil, badRequest(fmt.Sprintf("%d of %d events invalid; nothing stored", len(probs), len(raws)), probs...)
	}
	return out, nil
}

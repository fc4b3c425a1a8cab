package dispatch

import (
	"strconv"
	"time"

	"github.com/aftershock/aftershock/internal/jsonscan"
)

// appendLog writes rec's JSON without reflection: a group's log names every
// alert it told and is written after each of its messages, and json.Marshal
// (reflection, every map's keys sorted) took about 55 ms for a group of
// 60 000, holding up every write queued behind it. Map keys come in map
// order, which no reader minds; the values decode to what json.Marshal's
// would. It reports false for what it does not write as json.Marshal does
// (a time outside years 0–9999), and the caller uses json.Marshal.
func appendLog(b []byte, r *LogRecord) ([]byte, bool) {
	w := &logWriter{b: b, ok: true}
	w.str(`{"group_id":`, r.GroupID)
	w.str(`,"receiver":`, r.Receiver)
	w.str(`,"route":`, r.Route)
	w.raw(`,"labels":`)
	writeMap(w, r.Labels, w.string)
	w.raw(`,"drill":`)
	w.b = strconv.AppendBool(w.b, r.Drill)
	w.raw(`,"at":`)
	w.time(r.At)
	w.raw(`,"firing":`)
	writeMap(w, r.Firing, w.string)
	if len(r.Updates) > 0 {
		w.raw(`,"updates":`)
		writeMap(w, r.Updates, w.int)
	}
	if len(r.Starts) > 0 {
		w.raw(`,"starts":`)
		writeMap(w, r.Starts, w.time)
	}
	if r.Ref != "" {
		w.str(`,"ref":`, r.Ref)
	}
	if p := r.Parts; p != nil {
		w.raw(`,"parts":{"count":`)
		w.int(p.Count)
		w.raw(`,"bytes":`)
		w.int(p.Bytes)
		w.str(`,"sha256":`, p.SHA256)
		w.raw(`}`)
	}
	w.raw(`}`)
	return w.b, w.ok
}

type logWriter struct {
	b  []byte
	ok bool
}

func (w *logWriter) raw(s string)    { w.b = append(w.b, s...) }
func (w *logWriter) string(s string) { w.b = jsonscan.AppendString(w.b, s) }
func (w *logWriter) int(n int)       { w.b = strconv.AppendInt(w.b, int64(n), 10) }

func (w *logWriter) str(key, s string) {
	w.raw(key)
	w.string(s)
}

func (w *logWriter) time(t time.Time) {
	w.raw(`"`)
	var err error
	if w.b, err = t.AppendText(w.b); err != nil {
		w.ok = false
	}
	w.raw(`"`)
}

// writeMap writes m as a JSON object, null when nil (as json.Marshal
// does), each value through value.
func writeMap[V any](w *logWriter, m map[string]V, value func(V)) {
	if m == nil {
		w.raw("null")
		return
	}
	w.raw("{")
	first := true
	for k, v := range m {
		if !first {
			w.raw(",")
		}
		first = false
		w.string(k)
		w.raw(":")
		value(v)
	}
	w.raw("}")
}

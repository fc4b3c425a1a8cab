package dispatch

import (
	"github.com/aftershock/aftershock/internal/jsonscan"
)

// appendLog writes rec's JSON without reflection: a group's log names every
// alert it told and is written after each of its messages, and json.Marshal
// (reflection, every map's keys sorted) took 107–144 ms for a group of
// 60 000 (BenchmarkEncodeLog), holding up every write queued behind it. Map keys come in map
// order, which no reader minds; the values decode to what json.Marshal's
// would. It reports false for what it does not write as json.Marshal does
// (a time outside years 0–9999), and the caller uses json.Marshal.
func appendLog(b []byte, r *LogRecord) ([]byte, bool) {
	w := &jsonscan.Writer{B: b, OK: true}
	w.Raw(`{"group_id":`)
	w.Str(r.GroupID)
	w.Raw(`,"receiver":`)
	w.Str(r.Receiver)
	w.Raw(`,"route":`)
	w.Str(r.Route)
	w.Raw(`,"labels":`)
	writeMap(w, r.Labels, w.Str)
	w.Raw(`,"drill":`)
	w.Bool(r.Drill)
	w.Raw(`,"at":`)
	w.Time(r.At)
	w.Raw(`,"firing":`)
	writeMap(w, r.Firing, w.Str)
	if len(r.Updates) > 0 {
		w.Raw(`,"updates":`)
		writeMap(w, r.Updates, func(n int) { w.Int(int64(n)) })
	}
	if len(r.Starts) > 0 {
		w.Raw(`,"starts":`)
		writeMap(w, r.Starts, w.Time)
	}
	if r.Ref != "" {
		w.Raw(`,"ref":`)
		w.Str(r.Ref)
	}
	if p := r.Parts; p != nil {
		w.Raw(`,"parts":{"count":`)
		w.Int(int64(p.Count))
		w.Raw(`,"bytes":`)
		w.Int(int64(p.Bytes))
		w.Raw(`,"sha256":`)
		w.Str(p.SHA256)
		w.Raw(`}`)
	}
	w.Raw(`}`)
	return w.B, w.OK
}

// writeMap writes m as a JSON object, null when nil (as json.Marshal
// does), each value through value.
func writeMap[V any](w *jsonscan.Writer, m map[string]V, value func(V)) {
	if m == nil {
		w.Raw("null")
		return
	}
	w.Raw("{")
	first := true
	for k, v := range m {
		if !first {
			w.Raw(",")
		}
		first = false
		w.Str(k)
		w.Raw(":")
		value(v)
	}
	w.Raw("}")
}

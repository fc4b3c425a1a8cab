package alert

import (
	"maps"
	"slices"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/jsonscan"
)

// encodeFast writes what json.Marshal writes for a, byte for byte, without
// reflection: every alert is encoded on the evaluating goroutine before it
// is published, and encoding/json took 25-29 µs for a node-crash update.
// It reports false where json.Marshal would have work the fast path does
// not do (event data that needs compacting or HTML escaping, a time
// json.Marshal refuses), and Encode then uses json.Marshal.
// FuzzEncodeParity holds it to that.
func encodeFast(dst []byte, a *Alert) ([]byte, bool) {
	w := writer{jsonscan.Writer{B: dst, OK: true}}
	w.Raw(`{"id":`)
	w.Str(a.ID)
	w.Raw(`,"fingerprint":`)
	w.Str(a.Fingerprint)
	w.Raw(`,"rule":`)
	w.Str(a.Rule)
	w.Raw(`,"severity":`)
	w.Str(a.Severity)
	w.Raw(`,"state":`)
	w.Str(string(a.State))
	w.strMap(`,"labels":`, a.Labels)
	w.strMap(`,"annotations":`, a.Annotations)
	w.optStr(`,"headline":`, a.Headline)
	w.Raw(`,"summary":`)
	w.Str(a.Summary)
	w.optStr(`,"details":`, a.Details)
	w.strs(`,"note_order":`, a.NoteOrder)
	w.Raw(`,"group_key":`)
	w.Str(a.GroupKey)
	w.strs(`,"receivers":`, a.Receivers)
	w.time(`,"window_start":`, a.WindowStart)
	w.time(`,"window_end":`, a.WindowEnd)
	w.time(`,"starts_at":`, a.StartsAt)
	if !a.Since.IsZero() {
		w.time(`,"since":`, a.Since)
	}
	if !a.EndsAt.IsZero() {
		w.time(`,"ends_at":`, a.EndsAt)
	}
	array(&w, `,"evidence":`, a.Evidence, w.event)
	w.Raw(`,"evidence_seen":`)
	w.Int(int64(a.EvidenceSeen))
	w.Raw(`,"drill":`)
	w.Bool(a.Drill)
	w.optStr(`,"rules_version":`, a.RulesVersion)
	if a.Update != 0 {
		w.Raw(`,"update":`)
		w.Int(int64(a.Update))
	}
	if c := a.Change; c != nil {
		w.Raw(`,"change":{"significant":`)
		w.Bool(c.Significant)
		w.strs(`,"notes":`, c.Notes)
		w.strs(`,"values":`, c.Values)
		w.Raw("}")
	}
	array(&w, `,"tally":`, a.Tally, w.tally)
	w.time(`,"created_at":`, a.CreatedAt)
	w.Raw("}")
	return w.B, w.OK
}

// writer adds the alert model's shapes to jsonscan's.
type writer struct{ jsonscan.Writer }

func (w *writer) optStr(key, s string) {
	if s != "" {
		w.Raw(key)
		w.Str(s)
	}
}

func (w *writer) strs(key string, ss []string) {
	array(w, key, ss, func(s *string) { w.Str(*s) })
}

// array writes key and xs, each through item, or nothing when xs is empty
// (the omitempty of every array in the model).
func array[T any](w *writer, key string, xs []T, item func(*T)) {
	if len(xs) == 0 {
		return
	}
	w.Raw(key)
	w.Raw("[")
	for i := range xs {
		if i > 0 {
			w.Raw(",")
		}
		item(&xs[i])
	}
	w.Raw("]")
}

// strMap writes a map with its keys sorted, as json.Marshal does.
func (w *writer) strMap(key string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	w.Raw(key)
	w.Raw("{")
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			w.Raw(",")
		}
		w.Str(k)
		w.Raw(":")
		w.Str(m[k])
	}
	w.Raw("}")
}

func (w *writer) time(key string, t time.Time) {
	w.Raw(key)
	w.Time(t)
}

func (w *writer) tally(t *TypeTally) {
	w.Raw(`{"type":`)
	w.Str(t.Type)
	w.Raw(`,"events":`)
	w.Int(t.Events)
	w.Raw(`,"occurrences":`)
	w.Int(t.Occurrences)
	w.Raw(`,"nodes":`)
	w.Int(t.Nodes)
	w.time(`,"first":`, t.First)
	w.time(`,"last":`, t.Last)
	array(w, `,"top_nodes":`, t.TopNodes, func(n *NodeCount) {
		w.Raw(`{"node":`)
		w.Str(n.Node)
		w.Raw(`,"events":`)
		w.Int(n.Events)
		w.Raw("}")
	})
	w.Raw("}")
}

func (w *writer) event(e *event.Event) {
	w.Raw(`{"specversion":`)
	w.Str(e.SpecVersion)
	w.Raw(`,"id":`)
	w.Str(e.ID)
	w.Raw(`,"source":`)
	w.Str(e.Source)
	w.Raw(`,"type":`)
	w.Str(e.Type)
	w.time(`,"time":`, e.Time)
	w.optStr(`,"subject":`, e.Subject)
	w.optStr(`,"datacontenttype":`, e.DataContentType)
	w.Raw(`,"cluster":`)
	w.Str(e.Cluster)
	w.Raw(`,"node":`)
	w.Str(e.Node)
	if len(e.Data) > 0 {
		// json.Marshal compacts raw JSON and escapes HTML in it; data that
		// needs neither is written as it is.
		s := jsonscan.New(e.Data)
		if !s.Value() || s.Pos() != len(e.Data) || !compactSafe(e.Data) {
			w.OK = false
			return
		}
		w.Raw(`,"data":`)
		w.B = append(w.B, e.Data...)
	}
	w.Raw("}")
}

// compactSafe reports whether valid JSON b has no white space outside its
// strings and nothing json.Marshal escapes in them (<, >, &, U+2028,
// U+2029).
func compactSafe(b []byte) bool {
	in := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		if !dataSpecial[c] {
			continue
		}
		switch {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case c == '<' || c == '>' || c == '&':
			return false
		case c == 0xE2:
			if i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9) {
				return false
			}
		case !in: // white space
			return false
		}
	}
	return true
}

// dataSpecial marks the bytes compactSafe looks at.
var dataSpecial = func() (t [256]bool) {
	for _, c := range []byte(`"\<>& ` + "\t\n\r\xe2") {
		t[c] = true
	}
	return t
}()

package alert

import (
	"maps"
	"slices"
	"strconv"
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
	w := writer{b: dst, ok: true}
	w.raw(`{"id":`)
	w.str(a.ID)
	w.raw(`,"fingerprint":`)
	w.str(a.Fingerprint)
	w.raw(`,"rule":`)
	w.str(a.Rule)
	w.raw(`,"severity":`)
	w.str(a.Severity)
	w.raw(`,"state":`)
	w.str(string(a.State))
	w.strMap(`,"labels":`, a.Labels)
	w.strMap(`,"annotations":`, a.Annotations)
	w.optStr(`,"headline":`, a.Headline)
	w.raw(`,"summary":`)
	w.str(a.Summary)
	w.optStr(`,"details":`, a.Details)
	w.strs(`,"note_order":`, a.NoteOrder)
	w.raw(`,"group_key":`)
	w.str(a.GroupKey)
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
	w.raw(`,"evidence_seen":`)
	w.int(int64(a.EvidenceSeen))
	w.raw(`,"drill":`)
	w.b = strconv.AppendBool(w.b, a.Drill)
	w.optStr(`,"rules_version":`, a.RulesVersion)
	if a.Update != 0 {
		w.raw(`,"update":`)
		w.int(int64(a.Update))
	}
	if c := a.Change; c != nil {
		w.raw(`,"change":{"significant":`)
		w.b = strconv.AppendBool(w.b, c.Significant)
		w.strs(`,"notes":`, c.Notes)
		w.strs(`,"values":`, c.Values)
		w.raw("}")
	}
	array(&w, `,"tally":`, a.Tally, w.tally)
	w.time(`,"created_at":`, a.CreatedAt)
	w.raw("}")
	return w.b, w.ok
}

type writer struct {
	b  []byte
	ok bool
}

func (w *writer) raw(s string) { w.b = append(w.b, s...) }

func (w *writer) int(n int64) { w.b = strconv.AppendInt(w.b, n, 10) }

func (w *writer) optStr(key, s string) {
	if s != "" {
		w.raw(key)
		w.str(s)
	}
}

func (w *writer) strs(key string, ss []string) {
	array(w, key, ss, func(s *string) { w.str(*s) })
}

// array writes key and xs, each through item, or nothing when xs is empty
// (the omitempty of every array in the model).
func array[T any](w *writer, key string, xs []T, item func(*T)) {
	if len(xs) == 0 {
		return
	}
	w.raw(key)
	w.raw("[")
	for i := range xs {
		if i > 0 {
			w.raw(",")
		}
		item(&xs[i])
	}
	w.raw("]")
}

// strMap writes a map with its keys sorted, as json.Marshal does.
func (w *writer) strMap(key string, m map[string]string) {
	if len(m) == 0 {
		return
	}
	w.raw(key)
	w.raw("{")
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			w.raw(",")
		}
		w.str(k)
		w.raw(":")
		w.str(m[k])
	}
	w.raw("}")
}

func (w *writer) time(key string, t time.Time) {
	w.raw(key)
	w.raw(`"`)
	var err error
	if w.b, err = t.AppendText(w.b); err != nil {
		w.ok = false
	}
	w.raw(`"`)
}

func (w *writer) tally(t *TypeTally) {
	w.raw(`{"type":`)
	w.str(t.Type)
	w.raw(`,"events":`)
	w.int(t.Events)
	w.raw(`,"occurrences":`)
	w.int(t.Occurrences)
	w.raw(`,"nodes":`)
	w.int(t.Nodes)
	w.time(`,"first":`, t.First)
	w.time(`,"last":`, t.Last)
	array(w, `,"top_nodes":`, t.TopNodes, func(n *NodeCount) {
		w.raw(`{"node":`)
		w.str(n.Node)
		w.raw(`,"events":`)
		w.int(n.Events)
		w.raw("}")
	})
	w.raw("}")
}

func (w *writer) event(e *event.Event) {
	w.raw(`{"specversion":`)
	w.str(e.SpecVersion)
	w.raw(`,"id":`)
	w.str(e.ID)
	w.raw(`,"source":`)
	w.str(e.Source)
	w.raw(`,"type":`)
	w.str(e.Type)
	w.time(`,"time":`, e.Time)
	w.optStr(`,"subject":`, e.Subject)
	w.optStr(`,"datacontenttype":`, e.DataContentType)
	w.raw(`,"cluster":`)
	w.str(e.Cluster)
	w.raw(`,"node":`)
	w.str(e.Node)
	if len(e.Data) > 0 {
		// json.Marshal compacts raw JSON and escapes HTML in it; data that
		// needs neither is written as it is.
		s := jsonscan.New(e.Data)
		if !s.Value() || s.Pos() != len(e.Data) || !compactSafe(e.Data) {
			w.ok = false
			return
		}
		w.raw(`,"data":`)
		w.b = append(w.b, e.Data...)
	}
	w.raw("}")
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

// str writes s as json.Marshal does.
func (w *writer) str(s string) { w.b = jsonscan.AppendString(w.b, s) }

package rule

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"text/template"
	"time"
)

func TestTemplateKeys(t *testing.T) {
	tests := []struct {
		text string
		keys string // sorted, comma-separated; "*" for All
	}{
		{`plain text`, ""},
		{`{{ .event.node }} in {{ .event.cluster }}: {{ .event.data.message }}`, "event"},
		{`{{ .values.count }} on {{ len .window.nodes }} nodes`, "values,window"},
		{`{{ if gt .count 1 }}{{ .count }} events{{ else }}{{ .last.node }}{{ end }}`, "count,last"},
		// range and with set the dot: fields inside are the element's.
		{`{{ range .events }}{{ .node }} {{ .data.x }}{{ end }}`, "events"},
		{`{{ with .event }}{{ .data.message }}{{ else }}{{ .rule }}{{ end }}`, "event,rule"},
		{`{{ range .events }}{{ . }}{{ end }}`, "events"},
		// $ is the data wherever it is.
		{`{{ range .events }}{{ $.key.node }}{{ end }}`, "events,key"},
		{`{{ range $i, $e := .events }}{{ $e.node }}{{ end }}`, "events"},
		{`{{ $n := .values.nodes }}{{ $n }}`, "values"},
		{`{{ (index .events 0).node }}`, "events"},
		{`{{ default "none" .labels.team | upper }}`, "labels"},
		// The data as a whole: everything is built.
		{`{{ . }}`, "*"},
		{`{{ index . "events" }}`, "*"},
		{`{{ range .events }}{{ $ }}{{ end }}`, "*"},
		{`{{ define "x" }}{{ .values }}{{ end }}{{ template "x" . }}`, "*"},
	}
	for _, tt := range tests {
		tpl, err := parseTemplate("t", tt.text, nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.text, err)
		}
		k := templateKeys(tpl)
		got := "*"
		if !k.All {
			got = strings.Join(slices.Sorted(maps.Keys(k.keys)), ",")
		}
		if got != tt.keys {
			t.Errorf("%s: keys %q, want %q", tt.text, got, tt.keys)
		}
	}
}

// TestTemplateKeysOfTheRule: every template of a rule counts, the
// significant values' notes and label templates too.
func TestTemplateKeysOfTheRule(t *testing.T) {
	c := &Compiled{
		Summary:   mustParse(t, `{{ .event.node }}`),
		Annotated: map[string]*template.Template{"why": mustParse(t, `{{ .window.count }}`)},
		Presentation: Presentation{
			TitleTemplate:     mustParse(t, `{{ .rule }}`),
			LabelTemplates:    map[string]*template.Template{"team": mustParse(t, `{{ .labels.team }}`)},
			SignificantValues: []Significant{{Value: "n", Note: mustParse(t, `{{ .values.n }}`)}, {Value: "m"}},
		},
	}
	k := templateKeys(c.templatesAll()...)
	for _, key := range []string{"event", "window", "rule", "labels", "values"} {
		if !k.Reads(key) {
			t.Errorf("%s not read", key)
		}
	}
	if k.All || k.Reads("events") || k.Reads("first") {
		t.Errorf("keys %v (all %v): events and first are read by no template", k.keys, k.All)
	}
}

func mustParse(t *testing.T, text string) *template.Template {
	t.Helper()
	tpl, err := parseTemplate("t", text, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// FuzzTemplateKeys holds the analysis to the renderer: a template renders
// the same from the data cut to the keys it reads as from all of it.
func FuzzTemplateKeys(f *testing.F) {
	for _, s := range []string{
		`{{ .event.node }}`, `{{ range .events }}{{ .node }}{{ end }}`, `{{ with .window }}{{ .count }}{{ else }}{{ .rule }}{{ end }}`,
		`{{ range $i, $e := .events }}{{ $.first.node }}{{ $e.node }}{{ end }}`, `{{ $x := .values }}{{ $x.n }}`,
		`{{ if .drill }}{{ .run }}{{ else if .count }}{{ .count }}{{ end }}`, `{{ index . "last" }}`, `{{ (index .events 0).node }}`,
		`{{ range .events }}{{ break }}{{ end }}{{ .key }}`, `{{ define "t" }}{{ .labels }}{{ end }}{{ template "t" . }}`,
	} {
		f.Add(s)
	}
	full := map[string]any{
		"rule": "r", "severity": "warning", "state": "firing", "labels": map[string]string{"team": "sre"},
		"key": map[string]string{"node": "n1"}, "group_key": "g", "values": map[string]any{"n": 3},
		"events": []map[string]any{{"node": "n0"}, {"node": "n1"}}, "count": 2,
		"window": map[string]any{"count": 6, "nodes": 2}, "starts_at": t0tpl, "ends_at": t0tpl, "since": t0tpl,
		"drill": false, "run": "", "event": map[string]any{"node": "n1", "data": map[string]any{"x": 1}},
		"first": map[string]any{"node": "n0"}, "last": map[string]any{"node": "n1"},
	}
	f.Fuzz(func(t *testing.T, text string) {
		tpl, err := parseTemplate("t", text, nil)
		if err != nil {
			return
		}
		k := templateKeys(tpl)
		cut := map[string]any{}
		for key, v := range full {
			if k.Reads(key) {
				cut[key] = v
			}
		}
		want, werr := renderTo(tpl, full)
		got, gerr := renderTo(tpl, cut)
		if got != want || (werr == nil) != (gerr == nil) {
			t.Fatalf("%q reads %v (all %v):\nfrom all: %q %v\nfrom cut: %q %v", text, k.keys, k.All, want, werr, got, gerr)
		}
	})
}

var t0tpl = time.Date(2020, 6, 14, 13, 0, 0, 0, time.UTC)

func renderTo(tpl *template.Template, data map[string]any) (string, error) {
	var b strings.Builder
	err := tpl.Execute(&b, data)
	return b.String(), err
}

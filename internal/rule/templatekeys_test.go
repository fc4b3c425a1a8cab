package rule

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"text/template"
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

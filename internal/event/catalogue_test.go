package event

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestCatalogueDocumented checks that docs/events.md has, for every
// catalogued type, a section whose JSON example is a valid event of that type.
func TestCatalogueDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	for _, part := range strings.Split(string(doc), "\n### `")[1:] {
		name, body, _ := strings.Cut(part, "`")
		sections[name] = body
	}
	block := regexp.MustCompile("(?s)```json\n(.*?)```")
	for _, ti := range Catalogue {
		t.Run(ti.Type, func(t *testing.T) {
			body, ok := sections[ti.Type]
			if !ok {
				t.Fatalf("docs/events.md has no section for %s", ti.Type)
			}
			m := block.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("section %s has no JSON example", ti.Type)
			}
			e, err := Decode([]byte(m[1]))
			if err != nil {
				t.Fatalf("example is not a valid event: %v", err)
			}
			if e.Type != ti.Type {
				t.Fatalf("example has type %s", e.Type)
			}
		})
	}
}

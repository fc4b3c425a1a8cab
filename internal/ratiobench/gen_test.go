package ratiobench

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/rule"
)

// TestGeneratedPack: the pack plus generated rules loads and checks, with
// the generated rules spread evenly over the app types.
func TestGeneratedPack(t *testing.T) {
	for _, n := range []int{100, 1000} {
		dir := filepath.Join(t.TempDir(), "rules")
		if err := WritePack("../../rules", dir, n); err != nil {
			t.Fatal(err)
		}
		set, err := rule.LoadDir(dir, rule.CheckOptions{})
		if err != nil {
			t.Fatalf("%d rules: %v", n, err)
		}
		perType := map[string]int{}
		for _, c := range set.Rules {
			if strings.HasPrefix(c.Name, "gen-") {
				perType[c.Types.Types[0]]++
			}
		}
		if len(perType) != AppTypes {
			t.Fatalf("%d rules over %d types, want %d", n, len(perType), AppTypes)
		}
		for typ, k := range perType {
			if k != n/AppTypes {
				t.Errorf("%d rules: %s has %d rules, want %d", n, typ, k, n/AppTypes)
			}
		}
	}
}

// TestBacklog: every generated event decodes, validates and belongs on its
// subject; app values cover their range.
func TestBacklog(t *testing.T) {
	start := time.Now()
	for _, l := range []Load{Fleet, App} {
		seen := map[string]bool{}
		for i := range 1000 {
			m, err := Backlog(l, i, 1000, start)
			if err != nil {
				t.Fatal(err)
			}
			ev, err := event.Decode(m.Data)
			if err != nil {
				t.Fatalf("load %d event %d: %v", l, i, err)
			}
			if ev.NATSSubject(false) != m.Subject || ev.ID != m.ID || seen[m.ID] {
				t.Fatalf("load %d event %d: subject %s id %s", l, i, m.Subject, m.ID)
			}
			seen[m.ID] = true
		}
	}
	var hi, lo int
	for i := range 2000 {
		m, _ := Backlog(App, i, 2000, start)
		ev, _ := event.Decode(m.Data)
		var d struct{ Value int }
		if err := json.Unmarshal(ev.Data, &d); err != nil || d.Value < 0 || d.Value >= 1000 {
			t.Fatalf("value %d, %v", d.Value, err)
		}
		if d.Value > 990 {
			hi++
		}
		if d.Value < 500 {
			lo++
		}
	}
	// Uniform over [0, 1000): about 18 above 990, about 1000 below 500.
	if hi < 5 || hi > 40 || lo < 900 || lo > 1100 {
		t.Errorf("values not spread: %d above 990, %d below 500 of 2000", hi, lo)
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestRulesCheckExplain: --explain prints the rule plan after the check;
// without it the check says only OK; a stray flag is a usage error.
func TestRulesCheckExplain(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		out  []string
		not  []string
	}{
		{"explain", []string{"check", "--explain", "../rules"}, 0,
			[]string{"rules OK", "plan of ", `filed under hash: event.data.rule == "node-down"`, "its own program (a comprehension"}, nil},
		{"plain", []string{"check", "../rules"}, 0, []string{"rules OK"}, []string{"plan of"}},
		{"unknown flag", []string{"check", "--bogus", "../rules"}, 2, nil, []string{"rules OK"}},
		{"explain on test", []string{"test", "--explain", "../rules"}, 2, nil, []string{"plan of"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if code := rulesCmd(tt.args, &out, &errOut); code != tt.code {
				t.Fatalf("exit %d, want %d\n%s%s", code, tt.code, out.String(), errOut.String())
			}
			for _, w := range tt.out {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
			if tt.code == 2 && !strings.Contains(errOut.String(), "usage:") {
				t.Errorf("no usage on stderr: %q", errOut.String())
			}
		})
	}
}

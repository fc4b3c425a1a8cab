package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/bintest"
)

// TestHelpAndVersion runs the collector binary: asking for help, in any of
// the usual ways, prints it and exits 0; version prints what is running;
// a bad --log-format is refused before anything starts.
func TestHelpAndVersion(t *testing.T) {
	bin := bintest.Build(t, "./collector")
	tests := []struct {
		args []string
		code int
		out  []string
	}{
		{[]string{"help"}, 0, []string{"collector version", "-log-format string", "-heartbeat duration"}},
		{[]string{"--help"}, 0, []string{"Flags:", "-http string"}},
		{[]string{"version"}, 0, []string{"collector ", "commit: ", "go:     go1."}},
		{[]string{"scan", "--help"}, 0, []string{"scan"}},
		{[]string{"--log-format", "xml"}, 2, []string{`log format "xml": want text, json or auto`}},
		{[]string{"--memory-limit-ratio", "-1"}, 2, []string{"--memory-limit-ratio -1: want a share between 0 (off) and 1"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, err := exec.Command(bin, tt.args...).CombinedOutput()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d\n%s", code, tt.code, out)
			}
			for _, w := range tt.out {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

package main

import (
	"errors"
	"os/exec"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/bintest"
)

// TestHelpAndVersion runs the router binary: asking for help, in any of
// the usual ways, prints it and exits 0; version prints what is running;
// a bad --log-format is refused before anything starts.
func TestHelpAndVersion(t *testing.T) {
	bin := bintest.Build(t, "./router")
	tests := []struct {
		args []string
		code int
		out  []string
	}{
		{[]string{"help"}, 0, []string{"router version", "-log-format string", "-web-token string"}},
		{[]string{"--help"}, 0, []string{"Run flags:", "-http string"}},
		{[]string{"-h"}, 0, []string{"Run flags:"}},
		{[]string{"version"}, 0, []string{"router ", "commit: ", "go:     go1."}},
		{[]string{"silence", "--help"}, 0, []string{"router silence add"}},
		{[]string{"silence", "help"}, 0, []string{"router silence list"}},
		{[]string{"rules", "--help"}, 0, []string{"router rules check [--explain] DIR"}},
		{[]string{"backtest", "--help"}, 0, []string{"usage: router backtest"}},
		{[]string{"silence", "bogus"}, 2, []string{"router silence add"}},
		{[]string{"--log-format", "xml", "--rules", "/nonexistent"}, 2, []string{`log format "xml": want text, json or auto`}},
		{[]string{"--memory-limit-ratio", "1.5", "--rules", "/nonexistent"}, 2, []string{"--memory-limit-ratio 1.5: want a share between 0 (off) and 1"}},
		{[]string{"--gc-percent", "0", "--rules", "/nonexistent"}, 2, []string{`--gc-percent "0": want auto or a percent of at least 1 (GOGC)`}},
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

package logging_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/logging"
)

func TestFormats(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "log")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		name string
		args []string
		json bool
		err  string
	}{
		{"auto on a file is json", nil, true, ""},
		{"text", []string{"--log-format", "text"}, false, ""},
		{"json", []string{"--log-format=json"}, true, ""},
		{"bad", []string{"--log-format", "yaml"}, false, `log format "yaml"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fl logging.Flags
			fs := flag.NewFlagSet("x", flag.ContinueOnError)
			fl.Register(fs)
			if err := fs.Parse(tt.args); err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			log, err := fl.New(&buf)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			log.Info("hello", "node", "n1")
			isJSON := json.Valid(bytes.TrimSpace(buf.Bytes()))
			if isJSON != tt.json || !strings.Contains(buf.String(), "n1") {
				t.Errorf("output %q: json %v, want %v", buf.String(), isJSON, tt.json)
			}
		})
	}
	if logging.IsTerminal(f) {
		t.Error("a regular file is a terminal")
	}
}

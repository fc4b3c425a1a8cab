package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/event"
)

func TestScanCommand(t *testing.T) {
	fixture := filepath.Join("..", "internal", "kernel", "testdata", "k44-bug-fs-h.dmesg")
	badPack := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badPack, []byte("signatures:\n  - name: x\n    type: kernel.nope\n    contains: abc\n"), 0o644)
	tests := []struct {
		name   string
		args   []string
		stdin  string
		code   int
		events []string
		stderr string
	}{
		{"file", []string{"--node", "n1", "--boot-time", "2020-05-18T10:22:47+08:00", fixture}, "", 0,
			[]string{event.TypeKernelBug, event.TypeKernelPanic}, "2 events from 36 lines in 1 files"},
		{"stdin with format", []string{"--node", "n1", "--format", "journal", "--year", "2020", "-"},
			"Jun 14 13:14:38 h kernel: nf_conntrack: nf_conntrack: table full, dropping packet\n", 0,
			[]string{event.TypeKernelConntrack}, "1 events"},
		{"missing file", []string{"--node", "n1", "nope.log", fixture}, "", 1,
			[]string{event.TypeKernelBug, event.TypeKernelPanic}, "nope.log: no such file"},
		{"no file", []string{"--node", "n1"}, "", 2, nil, "no FILE"},
		{"bad flags", []string{"--format", "syslog", "--boot-time", "yesterday", "--tz", "Mars/Olympus", "--signatures", badPack, "-"}, "", 2, nil,
			`format "syslog"`},
		{"help", []string{"--help"}, "", 0, nil, "collector scan [flags] FILE..."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := runScan(tc.args, strings.NewReader(tc.stdin), &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Fatalf("stderr %q does not contain %q", errb.String(), tc.stderr)
			}
			var types []string
			for line := range strings.Lines(out.String()) {
				ev, err := event.Decode([]byte(line))
				if err != nil {
					t.Fatalf("output line is not an event: %v", err)
				}
				types = append(types, ev.Type)
			}
			if strings.Join(types, ",") != strings.Join(tc.events, ",") {
				t.Fatalf("events %v, want %v", types, tc.events)
			}
		})
	}
}

func TestScanBadFlagsNamed(t *testing.T) {
	var out, errb bytes.Buffer
	badPack := filepath.Join(t.TempDir(), "bad.yaml")
	os.WriteFile(badPack, []byte("signatures:\n  - name: x\n    type: kernel.nope\n    contains: abc\n"), 0o644)
	runScan([]string{"--format", "syslog", "--boot-time", "yesterday", "--tz", "Mars/Olympus", "--signatures", badPack, "-"}, nil, &out, &errb)
	for _, want := range []string{"--format", "--boot-time \"yesterday\"", "--tz", "--signatures", badPack + ":2"} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr %q does not name %q", errb.String(), want)
		}
	}
}

package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/bus/bustest"
)

func TestSilenceCommand(t *testing.T) {
	srv := bustest.Server(t)
	bustest.Connect(t, srv) // provisions SILENCES, as a router would
	url := srv.ClientURL()
	run := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := silenceCmd(append(args[:1:1], append([]string{"--nats", url}, args[1:]...)...), &out, &errOut)
		return code, out.String(), errOut.String()
	}
	code, out, errOut := run("add", "--comment", "kernel upgrade on n1", "--author", "alice", "--duration", "1h", `node="n1"`, `rule=~"dns-.*"`)
	if code != 0 {
		t.Fatalf("add: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	code, out, _ = run("list")
	if code != 0 || !strings.Contains(out, id) || !strings.Contains(out, "active") || !strings.Contains(out, `node="n1" rule=~"dns-.*"`) {
		t.Fatalf("list: %d\n%s", code, out)
	}
	if code, out, _ = run("expire", id); code != 0 || !strings.Contains(out, "expired "+id) {
		t.Fatalf("expire: %d %s", code, out)
	}
	if _, out, _ = run("list"); strings.Contains(out, id) {
		t.Errorf("expired silence listed without --all:\n%s", out)
	}
	if _, out, _ = run("list", "--all", "--json"); !strings.Contains(out, `"id":"`+id+`"`) {
		t.Errorf("list --all --json:\n%s", out)
	}

	bad := []struct {
		name string
		args []string
		want string
	}{
		{"no comment", []string{"add", "node=n1"}, "comment: say why"},
		{"no matcher", []string{"add", "--comment", "x"}, "at least one is required"},
		{"bad matcher", []string{"add", "--comment", "x", "node~n1"}, "matcher"},
		{"bad time", []string{"add", "--comment", "x", "--end", "tomorrow", "node=n1"}, `time "tomorrow": want RFC 3339`},
		{"unknown id", []string{"expire", "nope"}, "no such silence"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			code, _, errOut := run(b.args...)
			if code != 1 || !strings.Contains(errOut, b.want) {
				t.Errorf("exit %d, stderr %q; want 1 and %q", code, errOut, b.want)
			}
		})
	}
}

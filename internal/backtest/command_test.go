package backtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/rule"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	cases := []struct {
		in   string
		want time.Time
		err  string
	}{
		{"7d", now.Add(-7 * 24 * time.Hour), ""},
		{"36h", now.Add(-36 * time.Hour), ""},
		{"1d12h", now.Add(-36 * time.Hour), ""},
		{"2020-06-14T13:00:00Z", time.Date(2020, 6, 14, 13, 0, 0, 0, time.UTC), ""},
		{"2020-06-14T21:00:00+08:00", time.Date(2020, 6, 14, 13, 0, 0, 0, time.UTC), ""},
		{"", time.Time{}, "empty"},
		{"yesterday", time.Time{}, `"yesterday": want a duration`},
		{"-5m", time.Time{}, "want a duration"},
	}
	for _, c := range cases {
		t.Run(c.in, func(t *testing.T) {
			got, err := ParseTime(c.in, now)
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("err %v, want %q", err, c.err)
				}
				return
			}
			if err != nil || !got.Equal(c.want) {
				t.Fatalf("got %s, %v; want %s", got, err, c.want)
			}
		})
	}
}

// loader compiles rule sets named like directories.
func loader(t *testing.T) Loader {
	packs := map[string]string{"rules": candidate, "main-rules": baseline}
	return func(dir string) (*rule.Set, error) {
		yml, ok := packs[dir]
		if !ok {
			return nil, fmt.Errorf("rules in %s: no such directory", dir)
		}
		return compile(t, dir, yml).Set, nil
	}
}

func runCommand(t *testing.T, c Command) (string, error) {
	t.Helper()
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := c.Run(ctx, loader(t), &out, bustest.Logger(t))
	return out.String(), err
}

func TestCommandOnStoppedRoutersStore(t *testing.T) {
	dir := t.TempDir()
	s := bustest.ServerIn(t, dir)
	fillHistory(t, s)
	c := Command{Source: Source{StateDir: dir}, Since: "1h", RulesDir: "rules", CompareDir: "main-rules", JSON: true}

	// While a server (the router) holds the store, the backtest refuses it.
	if _, err := runCommand(t, c); err == nil || !strings.Contains(err.Error(), "state dir in use") {
		t.Fatalf("backtest on a store in use: %v", err)
	}
	s.Shutdown()
	s.WaitForShutdown()

	out, err := runCommand(t, c)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Events int64
		Diff   *Diff
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if doc.Events != 17 || doc.Diff == nil || len(doc.Diff.Added) != 2 || len(doc.Diff.Removed) != 2 || len(doc.Diff.Changed) != 1 {
		t.Fatalf("report:\n%s", out)
	}
}

func TestCommandOnRemoteServer(t *testing.T) {
	s := bustest.Server(t)
	fillHistory(t, s)
	out, err := runCommand(t, Command{Source: Source{NATS: bus.Options{URL: s.ClientURL()}}, Since: "1h", RulesDir: "main-rules"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "rules main-rules (version main-rules, 3 rules): 4 alerts") {
		t.Fatalf("report:\n%s", out)
	}
}

func TestCommandErrors(t *testing.T) {
	s := bustest.Server(t)
	remote := Source{NATS: bus.Options{URL: s.ClientURL()}}
	cases := []struct {
		name string
		c    Command
		want string
	}{
		{"bad since", Command{Source: remote, Since: "last week", RulesDir: "rules"}, "--since"},
		{"bad until", Command{Source: remote, Since: "1h", Until: "soon", RulesDir: "rules"}, "--until"},
		{"no rules dir", Command{Source: remote, Since: "1h"}, "--rules: required"},
		{"rules do not load", Command{Source: remote, Since: "1h", RulesDir: "nope"}, "rules in nope"},
		{"compare does not load", Command{Source: remote, Since: "1h", RulesDir: "rules", CompareDir: "nope"}, "rules in nope"},
		{"no source", Command{Since: "1h", RulesDir: "rules"}, "no source"},
		{"empty state dir", Command{Source: Source{StateDir: t.TempDir()}, Since: "1h", RulesDir: "rules"}, "holds no JetStream store"},
		{"unreachable server", Command{Source: Source{NATS: bus.Options{URL: "nats://127.0.0.1:1"}, ConnectTimeout: 300 * time.Millisecond}, Since: "1h", RulesDir: "rules"}, "connect nats"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := runCommand(t, c.c)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err %v, want %q", err, c.want)
			}
		})
	}
}

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/silence"
)

const silenceUsage = `usage:
  router silence add --comment WHY [--duration 2h | --end TIME] [--start TIME] [--author WHO] MATCHER...
  router silence list [--all] [--json]
  router silence expire ID...

MATCHER is name="value", name!="value", name=~"regexp" or name!~"regexp"
(labels: rule, severity, cluster, node, type and the rule's own labels).
Silences are JSON in the KV bucket SILENCES (docs/silences.md): the plain
'nats kv' CLI reads and writes them too.

Flags:
`

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, " ") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func silenceCmd(args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprint(stdout, silenceUsage)
		return 0
	}
	if len(args) == 0 || (args[0] != "add" && args[0] != "list" && args[0] != "expire") {
		fmt.Fprint(stderr, silenceUsage)
		return 2
	}
	verb := args[0]
	fs := flag.NewFlagSet("router silence "+verb, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, silenceUsage); fs.PrintDefaults() }
	var o bus.Options
	o.RegisterFlags(fs, "nats://127.0.0.1:4222", "NATS server URL(s)")
	var (
		matchers            stringList
		comment, author, id string
		start, end          string
		duration            time.Duration
		all, asJSON         bool
	)
	switch verb {
	case "add":
		fs.Var(&matchers, "matcher", "a matcher (repeatable; also accepted as arguments)")
		fs.StringVar(&comment, "comment", "", "why (required)")
		fs.StringVar(&author, "author", os.Getenv("USER"), "who [$USER]")
		fs.StringVar(&id, "id", "", "silence id (default: a new ULID)")
		fs.StringVar(&start, "start", "", "start, RFC 3339 (default: now)")
		fs.StringVar(&end, "end", "", "end, RFC 3339 (overrides --duration)")
		fs.DurationVar(&duration, "duration", 2*time.Hour, "how long from the start")
	case "list":
		fs.BoolVar(&all, "all", false, "include expired silences")
		fs.BoolVar(&asJSON, "json", false, "print JSON, one silence per line")
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	o.Name = "aftershock-router-silence"
	o.InboxPrefix = bus.OperatorInbox // it runs with the operator's user
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	kv, js, closeConn, err := silenceBucket(ctx, o)
	if err != nil {
		fmt.Fprintln(stderr, "router silence:", err)
		return 1
	}
	defer closeConn()
	now := time.Now()
	switch verb {
	case "add":
		s := &silence.Silence{ID: id, Matchers: append(matchers, fs.Args()...), CreatedBy: author, Comment: comment, StartsAt: now.UTC()}
		if s.StartsAt, err = parseTime(start, now); err == nil {
			s.EndsAt = s.StartsAt.Add(duration)
			if end != "" {
				s.EndsAt, err = parseTime(end, now)
			}
		}
		if err == nil {
			err = silence.Add(ctx, kv, s, now)
		}
		if err != nil {
			fmt.Fprintln(stderr, "router silence add:", err)
			return 1
		}
		fmt.Fprintln(stdout, s.ID)
	case "list":
		ss, bad, err := silence.List(ctx, js, bus.BucketSilence)
		if err != nil {
			fmt.Fprintln(stderr, "router silence list:", err)
			return 1
		}
		var shown []*silence.Silence
		for _, s := range ss {
			if all || s.StateAt(now) != silence.Expired {
				shown = append(shown, s)
			}
		}
		if asJSON {
			enc := json.NewEncoder(stdout)
			for _, s := range shown {
				_ = enc.Encode(s)
			}
		} else {
			_ = silence.Format(stdout, shown, now)
		}
		for _, e := range bad {
			fmt.Fprintln(stderr, "invalid entry (ignored by routers):", e)
		}
	case "expire":
		if fs.NArg() == 0 {
			fmt.Fprint(stderr, silenceUsage)
			return 2
		}
		code := 0
		for _, sid := range fs.Args() {
			if _, err := silence.Expire(ctx, kv, sid, now); err != nil {
				fmt.Fprintln(stderr, "router silence expire:", err)
				code = 1
				continue
			}
			fmt.Fprintln(stdout, "expired", sid)
		}
		return code
	}
	return 0
}

func parseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return now.UTC(), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q: want RFC 3339, e.g. %s", s, now.UTC().Format(time.RFC3339))
	}
	return t.UTC(), nil
}

func silenceBucket(ctx context.Context, o bus.Options) (jetstream.KeyValue, jetstream.JetStream, func(), error) {
	conn, err := bus.Connect(ctx, o, slog.New(slog.DiscardHandler))
	if err != nil {
		return nil, nil, nil, err
	}
	kv, err := conn.JS.KeyValue(ctx, bus.BucketSilence)
	if err != nil {
		conn.Close()
		if errors.Is(err, jetstream.ErrBucketNotFound) {
			return nil, nil, nil, fmt.Errorf("bucket %s not found: start a router once, it creates the bucket", bus.BucketSilence)
		}
		return nil, nil, nil, fmt.Errorf("open bucket %s: %w", bus.BucketSilence, err)
	}
	return kv, conn.JS, conn.Close, nil
}

// isHelp: "help", -h and --help ask for usage, which exits 0.
func isHelp(arg string) bool {
	switch arg {
	case "help", "-h", "-help", "--help":
		return true
	}
	return false
}

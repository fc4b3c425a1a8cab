// Package slacktest is a fake Slack for tests and benchmarks: the Web API's
// chat.postMessage and chat.update (form-encoded, bot token) and incoming
// webhooks (JSON). It keeps the channel as Slack shows it: each message's
// latest version and its thread.
// It checks each request the way Slack would (token, channel, Block Kit
// limits) plus aftershock's own rule that no event text reaches Slack
// unescaped, and misbehaves on demand through a notifytest.Script.
package slacktest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aftershock/aftershock/internal/notify/notifytest"
)

// Post is one request Slack accepted: a new message, or (Update) an edit
// of message TS.
type Post struct {
	Webhook  bool
	Update   bool
	Channel  string
	ThreadTS string
	TS       string
	Text     string
	Blocks   []map[string]any
	// RawBlocks is the blocks JSON as sent (benchmarks search it).
	RawBlocks string
	// Broadcast is reply_broadcast: a thread reply also shown in the channel.
	Broadcast bool
	At        time.Time // when the request arrived
}

// ChannelID is the id the fake answers for any channel name.
const ChannelID = "C0CHANNEL"

// Server is the fake. Set Script for faults; a Fault.Hook of
// "api:<error>" answers 200 {"ok":false,"error":"<error>"}.
type Server struct {
	tb     testing.TB
	token  string
	Script *notifytest.Script
	// OnPost, if set, sees every accepted post (benchmarks time them).
	OnPost func(Post)
	// Discard keeps no posts (Posts and Shown stay empty): a benchmark of
	// thousands of messages would otherwise measure the fake's growing
	// heap in the router's garbage collections. Requests are checked all
	// the same.
	Discard bool
	// Links are URL prefixes messages may link to (<url|text>), e.g. the
	// router's external_url; any other < or > is a test failure.
	Links []string

	mu    sync.Mutex
	posts []Post
	// top are the timestamps of the messages posted (what chat.update
	// may edit).
	top map[string]bool
	seq int
}

// New returns a fake Slack expecting bot token (for the Web API).
func New(tb testing.TB, token string) *Server {
	return &Server{tb: tb, token: token, top: map[string]bool{}}
}

// WebhookPath is where the fake takes incoming webhooks.
const WebhookPath = "/services/T000/B000/XXXX"

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	body, _ := io.ReadAll(r.Body)
	var p Post
	var problems []string
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/api/chat.postMessage":
		p, problems = s.parseAPI(r, body)
	case r.Method == http.MethodPost && r.URL.Path == "/api/chat.update":
		p, problems = s.parseAPI(r, body)
		p.Update = true
	case r.Method == http.MethodPost && r.URL.Path == WebhookPath:
		p, problems = s.parseWebhook(r, body)
	default:
		s.tb.Errorf("slacktest: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	if len(problems) > 0 {
		s.tb.Errorf("slacktest: bad request: %s", strings.Join(problems, "; "))
		writeAPIError(w, p.Webhook, "invalid_blocks")
		return
	}
	f := s.Script.Next()
	if notifytest.Apply(f, w, r) {
		return
	}
	if code, ok := strings.CutPrefix(f.Hook, "api:"); ok {
		writeAPIError(w, p.Webhook, code)
		return
	}
	s.mu.Lock()
	if p.Update {
		// chat.update takes the channel's id, as chat.postMessage answered.
		if p.Channel != ChannelID || !s.top[p.TS] {
			s.mu.Unlock()
			writeAPIError(w, false, "message_not_found")
			return
		}
	} else {
		s.seq++
		p.TS = fmt.Sprintf("1700000000.%06d", s.seq)
		s.top[p.TS] = true
	}
	p.At = arrived
	if !s.Discard {
		s.posts = append(s.posts, p)
	}
	s.mu.Unlock()
	if s.OnPost != nil {
		s.OnPost(p)
	}
	if p.Webhook {
		_, _ = io.WriteString(w, "ok")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": ChannelID, "ts": p.TS, "text": p.Text})
}

// Shown is the channel as Slack shows it: every top-level message in its
// latest version (edits applied), each followed by its thread replies.
func (s *Server) Shown() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	latest := map[string]Post{}
	for _, p := range s.posts {
		if p.Update {
			q := latest[p.TS]
			q.Text, q.Blocks, q.At = p.Text, p.Blocks, p.At
			latest[p.TS] = q
		} else {
			latest[p.TS] = p
		}
	}
	var out []Post
	for _, p := range s.posts {
		if p.Update || p.ThreadTS != "" {
			continue
		}
		out = append(out, latest[p.TS])
		for _, r := range s.posts {
			if !r.Update && r.ThreadTS == p.TS {
				out = append(out, latest[r.TS])
			}
		}
	}
	return out
}

func writeAPIError(w http.ResponseWriter, webhook bool, code string) {
	if webhook { // webhooks answer errors as plain text with a 4xx
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, code)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": code})
}

// Posts returns the accepted posts.
func (s *Server) Posts() []Post {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Post(nil), s.posts...)
}

func (s *Server) parseAPI(r *http.Request, body []byte) (Post, []string) {
	var probs []string
	if ct := r.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		probs = append(probs, "content type "+ct)
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return Post{}, []string{"form: " + err.Error()}
	}
	if form.Get("token") != s.token {
		probs = append(probs, "invalid_auth")
	}
	p := Post{Channel: form.Get("channel"), ThreadTS: form.Get("thread_ts"), Text: form.Get("text"), TS: form.Get("ts"),
		Broadcast: form.Get("reply_broadcast") == "true"}
	if p.Channel == "" {
		probs = append(probs, "channel_not_found")
	}
	if r.URL.Path == "/api/chat.update" && p.TS == "" {
		probs = append(probs, "chat.update without ts")
	}
	p.RawBlocks = form.Get("blocks")
	if err := json.Unmarshal([]byte(p.RawBlocks), &p.Blocks); err != nil {
		probs = append(probs, "blocks: "+err.Error())
	}
	return p, append(probs, Check(p, s.Links...)...)
}

func (s *Server) parseWebhook(r *http.Request, body []byte) (Post, []string) {
	p := Post{Webhook: true}
	if ct := r.Header.Get("Content-Type"); ct != "application/json" {
		return p, []string{"content type " + ct}
	}
	var m struct {
		Text   string          `json:"text"`
		Blocks json.RawMessage `json:"blocks"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		return p, []string{"invalid_payload: " + err.Error()}
	}
	p.Text, p.RawBlocks = m.Text, string(m.Blocks)
	if len(m.Blocks) > 0 {
		if err := json.Unmarshal(m.Blocks, &p.Blocks); err != nil {
			return p, []string{"invalid_payload: blocks: " + err.Error()}
		}
	}
	return p, Check(p, s.Links...)
}

// Check applies Slack's Block Kit limits and the escaping rule (no < or >
// in any mrkdwn text but links to the given prefixes: aftershock sends no
// mentions and no other links, so one would be event text breaking out).
func Check(p Post, links ...string) []string {
	var probs []string
	unlink := func(t string) string {
		for _, prefix := range links {
			for {
				i := strings.Index(t, "<"+prefix)
				if i < 0 {
					break
				}
				j := strings.IndexByte(t[i:], '>')
				if j < 0 || !strings.Contains(t[i:i+j], "|") {
					break
				}
				t = t[:i] + t[i+j+1:]
			}
		}
		return t
	}
	if len(p.Blocks) == 0 || len(p.Blocks) > 50 {
		probs = append(probs, fmt.Sprintf("%d blocks (1..50)", len(p.Blocks)))
	}
	if strings.ContainsAny(p.Text, "<>") {
		probs = append(probs, "unescaped text: "+p.Text)
	}
	checkText := func(where string, o any, limit int) {
		m, _ := o.(map[string]any)
		if m == nil {
			return
		}
		t, _ := m["text"].(string)
		if n := utf8.RuneCountInString(t); n > limit {
			probs = append(probs, fmt.Sprintf("%s text of %d characters (max %d)", where, n, limit))
		}
		if m["type"] == "mrkdwn" && strings.ContainsAny(unlink(t), "<>") {
			probs = append(probs, fmt.Sprintf("%s: unescaped < or > in %q", where, t))
		}
	}
	for i, b := range p.Blocks {
		where := fmt.Sprintf("block %d (%v)", i, b["type"])
		switch b["type"] {
		case "header":
			checkText(where, b["text"], 150)
		case "section":
			checkText(where, b["text"], 3000)
			fields, _ := b["fields"].([]any)
			if len(fields) > 10 {
				probs = append(probs, where+": more than 10 fields")
			}
			for _, f := range fields {
				checkText(where+" field", f, 2000)
			}
			if b["text"] == nil && len(fields) == 0 {
				probs = append(probs, where+": neither text nor fields")
			}
		case "context":
			els, _ := b["elements"].([]any)
			for _, e := range els {
				checkText(where+" element", e, 3000)
			}
		case "divider":
		default:
			probs = append(probs, where+": unexpected block type")
		}
	}
	return probs
}

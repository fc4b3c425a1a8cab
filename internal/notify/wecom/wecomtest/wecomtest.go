// Package wecomtest is a fake WeCom group robot for tests and benchmarks.
// It checks each request as WeCom would (key, msgtype, byte limits, valid
// UTF-8) and answers with errcodes: 93000 for a wrong key, 40058 for
// oversize content, 45009 beyond 20 messages a minute. It also rejects
// event text that escaped (a mention or @all), and misbehaves on demand:
// a notifytest.Fault with Hook "errcode:<n>" answers that errcode.
package wecomtest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/aftershock/aftershock/internal/notify/notifytest"
)

// Msg is one message the robot accepted.
type Msg struct {
	Type     string
	Content  string
	Mentions []string
	At       time.Time
}

// Server is the fake robot.
type Server struct {
	tb  testing.TB
	key string
	// Script injects faults; PerMinute (default 20) is the robot's limit.
	Script    *notifytest.Script
	PerMinute int
	// OnMsg, if set, sees every accepted message.
	OnMsg func(Msg)

	mu    sync.Mutex
	msgs  []Msg
	times []time.Time // every request that counted against the limit
	// throttled counts the requests refused for going over PerMinute.
	throttled int
}

// New returns a fake robot with key.
func New(tb testing.TB, key string) *Server { return &Server{tb: tb, key: key, PerMinute: 20} }

// Path is the send path, as on qyapi.weixin.qq.com.
const Path = "/cgi-bin/webhook/send"

// our own tags; anything else with < is escaped event text gone wrong.
var ownTag = regexp.MustCompile(`</?font( color="(info|comment|warning)")?>|(?m)^> `)

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != Path {
		s.tb.Errorf("wecomtest: unexpected %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
		return
	}
	arrived := time.Now()
	body, _ := io.ReadAll(r.Body) // first: a slow reply must notice the client leaving
	f := s.Script.Next()
	if notifytest.Apply(f, w, r) {
		return
	}
	if code, ok := strings.CutPrefix(f.Hook, "errcode:"); ok {
		n, _ := strconv.Atoi(code)
		reply(w, n, "injected")
		return
	}
	if r.URL.Query().Get("key") != s.key {
		reply(w, 93000, "invalid webhook url, hint: [1700000000_1], from ip: 127.0.0.1")
		return
	}
	var req struct {
		MsgType  string `json:"msgtype"`
		Markdown *struct {
			Content string `json:"content"`
		} `json:"markdown"`
		Text *struct {
			Content             string   `json:"content"`
			MentionedMobileList []string `json:"mentioned_mobile_list"`
		} `json:"text"`
	}
	if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &req) != nil {
		reply(w, 40035, "invalid parameter")
		return
	}
	m := Msg{Type: req.MsgType}
	limit := 0
	switch {
	case req.MsgType == "markdown" && req.Markdown != nil:
		m.Content, limit = req.Markdown.Content, 4096
	case req.MsgType == "text" && req.Text != nil:
		m.Content, m.Mentions, limit = req.Text.Content, req.Text.MentionedMobileList, 2048
	default:
		reply(w, 40008, "invalid message type")
		return
	}
	switch {
	case m.Content == "":
		reply(w, 44004, "empty content")
		return
	case !utf8.ValidString(m.Content):
		s.tb.Errorf("wecomtest: content is not valid UTF-8 (split mid-character?)")
		reply(w, 40035, "invalid parameter")
		return
	case len(m.Content) > limit:
		reply(w, 40058, fmt.Sprintf("content exceed max length %d", limit))
		return
	}
	if esc := strings.ContainsAny(ownTag.ReplaceAllString(m.Content, ""), "<>") || strings.Contains(m.Content, "@all"); esc {
		s.tb.Errorf("wecomtest: unescaped event text in %q", m.Content)
	}
	now := arrived
	s.mu.Lock()
	for len(s.times) > 0 && now.Sub(s.times[0]) >= time.Minute {
		s.times = s.times[1:]
	}
	if len(s.times) >= s.PerMinute {
		s.throttled++
		s.mu.Unlock()
		reply(w, 45009, "api freq out of limit")
		return
	}
	s.times = append(s.times, now)
	m.At = now
	s.msgs = append(s.msgs, m)
	s.mu.Unlock()
	if s.OnMsg != nil {
		s.OnMsg(m)
	}
	reply(w, 0, "ok")
}

func reply(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"errcode": code, "errmsg": msg})
}

// Throttled counts the messages refused with 45009 (over PerMinute).
func (s *Server) Throttled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.throttled
}

// Msgs returns the accepted messages.
func (s *Server) Msgs() []Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Msg(nil), s.msgs...)
}

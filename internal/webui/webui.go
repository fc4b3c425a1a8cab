// Package webui is the router's incident pages, server-rendered with
// html/template from files embedded in the binary, charts drawn as SVG on
// the server: no build step, no JavaScript, one request per page. The
// alert page shows an alert with a timeline of its evidence from EVENTS
// (the crashed node's heartbeats, its reboot placed at its last heartbeat,
// the timeouts of every node over time, the decisive moments), the
// crashed node's last kernel words, memory and kdump posture, the pods
// that died with it, the silences that match and what receivers were
// told. Silences are listed, created and expired from the pages through
// the same records and checks as `router silence`, when webauth allows.
package webui

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/route"
	"github.com/aftershock/aftershock/internal/silence"
	"github.com/aftershock/aftershock/internal/webauth"
)

//go:embed templates/*.html templates/style.css
var files embed.FS

// State is what the notifier stored (dispatch.StateView).
type State interface {
	Alerts() []*dispatch.AlertRecord
	Alert(fp string) *dispatch.AlertRecord
	History(fp string) *dispatch.History
}

// Options configure the pages.
type Options struct {
	State State
	// Log is the alerts' history from ALERTS (FollowAlerts).
	AlertLog *AlertLog
	// JS reads EVENTS for the evidence.
	JS       jetstream.JetStream
	Silences jetstream.KeyValue
	Routing  *route.Routing
	Auth     webauth.Options
	Log      *slog.Logger
	Now      func() time.Time
}

// UI serves the pages.
type UI struct {
	o      Options
	prefix string // the path of external_url: pages live under it
	clock  brief.Clock
	tmpl   map[string]*template.Template
}

// New checks o and parses the templates.
func New(o Options) (*UI, error) {
	var errs []error
	if o.State == nil || o.AlertLog == nil || o.JS == nil || o.Silences == nil || o.Routing == nil {
		errs = append(errs, errors.New("webui: state, alert log, JetStream, silences and routing are required"))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	u := &UI{o: o, clock: brief.Clock{Loc: o.Routing.Location}, tmpl: map[string]*template.Template{}}
	if o.Routing.ExternalURL != "" {
		eu, err := url.Parse(o.Routing.ExternalURL)
		if err != nil {
			return nil, fmt.Errorf("webui: external_url: %w", err)
		}
		u.prefix = strings.TrimRight(eu.Path, "/")
	}
	for _, page := range []string{"index", "alert", "silences", "login"} {
		t, err := template.New("layout.html").Funcs(u.funcs()).ParseFS(files, "templates/layout.html", "templates/partials.html", "templates/"+page+".html")
		if err != nil {
			return nil, fmt.Errorf("webui: template %s: %w", page, err)
		}
		u.tmpl[page] = t
	}
	return u, nil
}

// Mount registers the pages on mux, under external_url's path.
func (u *UI) Mount(mux *http.ServeMux) {
	cop := http.NewCrossOriginProtection()
	p := u.prefix
	mux.HandleFunc("GET "+p+"/{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, p+"/alerts", http.StatusFound)
	})
	mux.HandleFunc("GET "+p+"/alerts", u.index)
	mux.HandleFunc("GET "+p+"/alerts/{fp}", u.alertPage)
	mux.HandleFunc("GET "+p+"/silences", u.silencesPage)
	mux.Handle("POST "+p+"/silences", cop.Handler(http.HandlerFunc(u.createSilence)))
	mux.Handle("POST "+p+"/silences/{id}/expire", cop.Handler(http.HandlerFunc(u.expireSilence)))
	mux.HandleFunc("GET "+p+"/login", u.loginPage)
	mux.Handle("POST "+p+"/login", cop.Handler(http.HandlerFunc(u.login)))
	mux.Handle("POST "+p+"/logout", cop.Handler(http.HandlerFunc(u.logout)))
	mux.HandleFunc("GET "+p+"/static/style.css", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/css; charset=utf-8")
		w.Header().Set("Cache-Control", "max-age=3600")
		http.ServeFileFS(w, r, files, "templates/style.css")
	})
}

// page is what every template gets.
type page struct {
	Title    string
	Prefix   string
	Now      string
	CanWrite bool
	ReadOnly bool // no way to write at all
	User     string
	Flash    string
	Error    string
	Data     any
}

func (u *UI) page(r *http.Request, title string, data any) *page {
	who, err := u.o.Auth.Writer(r)
	p := &page{Title: title, Prefix: u.prefix, Now: u.clock.At(u.o.Now()), CanWrite: err == nil, ReadOnly: u.o.Auth.ReadOnly(),
		User: who, Data: data, Flash: r.URL.Query().Get("done"), Error: r.URL.Query().Get("error")}
	if p.CanWrite && who == "" {
		p.User = "token"
	}
	return p
}

func (u *UI) render(w http.ResponseWriter, name string, status int, p *page) {
	var b strings.Builder
	if err := u.tmpl[name].Execute(&b, p); err != nil {
		u.o.Log.Error("page not rendered", "page", name, "err", err)
		http.Error(w, "page not rendered: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

// back redirects after a form (303, so a reload does not post again).
func (u *UI) back(w http.ResponseWriter, r *http.Request, to, key, msg string) {
	http.Redirect(w, r, u.prefix+to+"?"+key+"="+url.QueryEscape(msg), http.StatusSeeOther)
}

func (u *UI) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

func (u *UI) funcs() template.FuncMap {
	return template.FuncMap{
		"at":     func(t time.Time) string { return u.clock.At(t) },
		"time":   func(t time.Time) string { return u.clock.Time(t) },
		"ago":    func(t time.Time) string { return ago(u.o.Now().Sub(t)) },
		"links":  links,
		"f1":     func(v float64) string { return fmt.Sprintf("%.1f", v) },
		"pct":    func(v float64) string { return fmt.Sprintf("%.2f", v) },
		"prefix": func() string { return u.prefix },
		"rows": func(name string, list []*silence.Silence, write bool) any {
			return struct {
				Name  string
				List  []*silence.Silence
				Write bool
			}{name, list, write}
		},
	}
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	}
	return fmt.Sprintf("%d days ago", int(d.Hours()/24))
}

// links escapes s and makes its http(s) URLs links (the known-bug URL of
// a rule's note).
func links(s string) template.HTML {
	var b strings.Builder
	for i, w := range strings.Split(s, " ") {
		if i > 0 {
			b.WriteByte(' ')
		}
		trail := ""
		for strings.HasSuffix(w, ",") || strings.HasSuffix(w, ".") || strings.HasSuffix(w, ")") || strings.HasSuffix(w, ";") {
			trail = w[len(w)-1:] + trail
			w = w[:len(w)-1]
		}
		if (strings.HasPrefix(w, "https://") || strings.HasPrefix(w, "http://")) && len(w) > 8 {
			e := template.HTMLEscapeString(w)
			b.WriteString(`<a href="` + e + `" rel="noreferrer">` + e + `</a>`)
		} else {
			b.WriteString(template.HTMLEscapeString(w))
		}
		b.WriteString(template.HTMLEscapeString(trail))
	}
	return template.HTML(b.String())
}

package webui

import (
	"cmp"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/duration"
	"github.com/aftershock/aftershock/internal/silence"
	"github.com/aftershock/aftershock/internal/webauth"
)

type silencesData struct {
	Active, Pending, Expired []*silence.Silence
	Invalid                  []string
	Matchers                 string
	Back                     string
}

// MaxExpiredShown bounds the expired silences listed.
const MaxExpiredShown = 50

func (u *UI) silencesPage(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := u.ctx(r)
	defer cancel()
	sils, bad, err := silence.List(ctx, u.o.JS, u.o.Silences.Bucket())
	if err != nil {
		p := u.page(r, "Silences", &silencesData{})
		p.Error = err.Error()
		u.render(w, "silences", http.StatusInternalServerError, p)
		return
	}
	d := &silencesData{Matchers: r.URL.Query().Get("matchers"), Back: "/silences"}
	now := u.o.Now()
	for _, s := range sils {
		switch s.StateAt(now) {
		case silence.Active:
			d.Active = append(d.Active, s)
		case silence.Pending:
			d.Pending = append(d.Pending, s)
		default:
			d.Expired = append([]*silence.Silence{s}, d.Expired...) // most recent first
		}
	}
	if len(d.Expired) > MaxExpiredShown {
		d.Expired = d.Expired[:MaxExpiredShown]
	}
	for _, e := range bad {
		d.Invalid = append(d.Invalid, e.Error())
	}
	u.render(w, "silences", http.StatusOK, u.page(r, "Silences", d))
}

// backPath is where a form returns: a page of this UI, else /silences.
func backPath(v string) string {
	if strings.HasPrefix(v, "/alerts/") || v == "/silences" {
		return v
	}
	return "/silences"
}

// createSilence stores a silence from the form: one matcher a line, a
// duration, a comment; the author is the proxy's user or the form's.
func (u *UI) createSilence(w http.ResponseWriter, r *http.Request) {
	back := backPath(r.FormValue("back"))
	who, err := u.o.Auth.Writer(r)
	if err != nil {
		u.denied(w, r, err)
		return
	}
	now := u.o.Now()
	s := &silence.Silence{CreatedBy: cmp.Or(who, strings.TrimSpace(r.FormValue("author"))), Comment: strings.TrimSpace(r.FormValue("comment")), StartsAt: now.UTC()}
	for _, line := range strings.Split(r.FormValue("matchers"), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			s.Matchers = append(s.Matchers, line)
		}
	}
	d, err := duration.Parse(strings.TrimSpace(cmp.Or(r.FormValue("duration"), "2h")))
	if err != nil || d <= 0 {
		u.back(w, r, back, "error", "duration "+r.FormValue("duration")+": want e.g. 30m, 2h, 1d")
		return
	}
	s.EndsAt = s.StartsAt.Add(d)
	ctx, cancel := u.ctx(r)
	defer cancel()
	if err := silence.Add(ctx, u.o.Silences, s, now); err != nil {
		u.back(w, r, back, "error", err.Error())
		return
	}
	u.o.Log.Info("silence stored from the pages", "id", s.ID, "matchers", s.Matchers, "ends_at", s.EndsAt, "created_by", s.CreatedBy)
	u.back(w, r, back, "done", "silence "+s.ID+" created, until "+u.clock.At(s.EndsAt))
}

func (u *UI) expireSilence(w http.ResponseWriter, r *http.Request) {
	back := backPath(r.FormValue("back"))
	if _, err := u.o.Auth.Writer(r); err != nil {
		u.denied(w, r, err)
		return
	}
	id := r.PathValue("id")
	ctx, cancel := u.ctx(r)
	defer cancel()
	if _, err := silence.Expire(ctx, u.o.Silences, id, u.o.Now()); err != nil {
		u.back(w, r, back, "error", err.Error())
		return
	}
	u.o.Log.Info("silence expired from the pages", "id", id)
	u.back(w, r, back, "done", "silence "+id+" expired")
}

func (u *UI) denied(w http.ResponseWriter, r *http.Request, err error) {
	p := u.page(r, "Not allowed", nil)
	p.Error = err.Error()
	if errors.Is(err, webauth.ErrUnauthorized) {
		p.Error = "Log in with the router's token first (the token of --web-token)."
	}
	u.render(w, "login", webauth.Status(err), p)
}

func (u *UI) loginPage(w http.ResponseWriter, r *http.Request) {
	u.render(w, "login", http.StatusOK, u.page(r, "Log in", nil))
}

// login keeps the token in a cookie the browser sends only to this site
// (SameSite=Strict, HttpOnly), after checking it.
func (u *UI) login(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimSpace(r.FormValue("token"))
	probe, _ := http.NewRequest("POST", "/", nil)
	probe.Header.Set("Authorization", "Bearer "+token)
	if u.o.Auth.Token == "" {
		p := u.page(r, "Log in", nil)
		p.Error = "This router has no token to log in with: it is read-only, or it takes the user from the reverse proxy's header (--web-user-header)."
		u.render(w, "login", webauth.Status(webauth.ErrReadOnly), p)
		return
	}
	if _, err := u.o.Auth.Writer(probe); err != nil || token == "" {
		p := u.page(r, "Log in", nil)
		p.Error = "That is not the router's token."
		u.render(w, "login", http.StatusUnauthorized, p)
		return
	}
	http.SetCookie(w, &http.Cookie{Name: webauth.CookieName, Value: token, Path: cmp.Or(u.prefix, "/"), HttpOnly: true,
		SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https", MaxAge: int((12 * time.Hour).Seconds())})
	u.back(w, r, "/alerts", "done", "logged in: silences can be created and expired")
}

func (u *UI) logout(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: webauth.CookieName, Value: "", Path: cmp.Or(u.prefix, "/"), MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	u.back(w, r, "/alerts", "done", "logged out")
}

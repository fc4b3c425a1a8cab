// Package webauth decides who may change things through the router's web
// endpoints (silences from the Alertmanager API and the incident pages).
// Reading is open to whoever reaches the port; writing needs the bearer
// token (--web-token), or a reverse proxy that authenticated the user and
// names them in a header (--web-user-header). With neither, the endpoints
// are read-only.
package webauth

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"
)

// Options configure writes.
type Options struct {
	// Token, when set, is the bearer token writers send
	// (Authorization: Bearer TOKEN, or basic auth with TOKEN as password).
	Token string
	// UserHeader, when set, names the header a reverse proxy sets to the
	// user it authenticated (X-Forwarded-User, X-Auth-Request-User): a
	// request carrying it may write. Only safe when nothing but the proxy
	// can reach the router's port.
	UserHeader string
}

// Errors of Writer; ErrReadOnly means nobody may write.
var (
	ErrReadOnly     = errors.New("read-only: the router was started without --web-token or --web-user-header")
	ErrUnauthorized = errors.New("unauthorized: send Authorization: Bearer <the --web-token>")
)

// CookieName holds the token for the pages' forms (set by a login form).
const CookieName = "aftershock_token"

// ReadOnly reports whether no write can ever be allowed.
func (o Options) ReadOnly() bool { return o.Token == "" && o.UserHeader == "" }

// Writer says who is writing with r, or why r may not write
// (ErrReadOnly, ErrUnauthorized). who is the proxy's user, or "" for the
// token (the caller then takes the author from the request body).
func (o Options) Writer(r *http.Request) (who string, err error) {
	if o.ReadOnly() {
		return "", ErrReadOnly
	}
	if o.UserHeader != "" {
		if u := strings.TrimSpace(r.Header.Get(o.UserHeader)); u != "" {
			return u, nil
		}
	}
	if o.Token != "" && o.tokenOK(r) {
		return "", nil
	}
	return "", ErrUnauthorized
}

func (o Options) tokenOK(r *http.Request) bool {
	var got string
	if h := r.Header.Get("Authorization"); h != "" {
		if t, ok := strings.CutPrefix(h, "Bearer "); ok {
			got = strings.TrimSpace(t)
		} else if _, p, ok := r.BasicAuth(); ok {
			got = p
		}
	} else if c, err := r.Cookie(CookieName); err == nil {
		got = c.Value
	}
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(o.Token)) == 1
}

// Status is the HTTP status for an error of Writer.
func Status(err error) int {
	if errors.Is(err, ErrUnauthorized) {
		return http.StatusUnauthorized
	}
	return http.StatusForbidden
}

package webauth_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/aftershock/aftershock/internal/webauth"
)

func TestWriter(t *testing.T) {
	token := webauth.Options{Token: "t0k"}
	proxy := webauth.Options{UserHeader: "X-Forwarded-User"}
	tests := []struct {
		name    string
		o       webauth.Options
		set     func(r *http.Request)
		who     string
		wantErr error
	}{
		{"read-only", webauth.Options{}, func(r *http.Request) { r.Header.Set("Authorization", "Bearer t0k") }, "", webauth.ErrReadOnly},
		{"bearer", token, func(r *http.Request) { r.Header.Set("Authorization", "Bearer t0k") }, "", nil},
		{"wrong bearer", token, func(r *http.Request) { r.Header.Set("Authorization", "Bearer t0") }, "", webauth.ErrUnauthorized},
		{"basic with the token as password", token, func(r *http.Request) { r.SetBasicAuth("amtool", "t0k") }, "", nil},
		{"basic with another password", token, func(r *http.Request) { r.SetBasicAuth("t0k", "x") }, "", webauth.ErrUnauthorized},
		{"cookie", token, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: webauth.CookieName, Value: "t0k"}) }, "", nil},
		{"nothing", token, func(*http.Request) {}, "", webauth.ErrUnauthorized},
		{"proxy user", proxy, func(r *http.Request) { r.Header.Set("X-Forwarded-User", " bob ") }, "bob", nil},
		{"no proxy user", proxy, func(r *http.Request) { r.Header.Set("Authorization", "Bearer t0k") }, "", webauth.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", nil)
			tt.set(r)
			who, err := tt.o.Writer(r)
			if who != tt.who || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Errorf("Writer = %q, %v; want %q, %v", who, err, tt.who, tt.wantErr)
			}
		})
	}
	if webauth.Status(webauth.ErrUnauthorized) != 401 || webauth.Status(webauth.ErrReadOnly) != 403 {
		t.Error("status codes")
	}
}

// Package amapi serves the router's alerts and silences in the shapes of
// Alertmanager's API v2 (/api/v2/alerts, /alerts/groups, /silences,
// /silence/{id}, /status, /receivers), so amtool, Grafana's Alertmanager
// data source and karma work against a router unchanged. Alerts come from
// ALERT_STATE (what the notifying router stored), silences from SILENCES
// (the same records and rules as `router silence`). docs/api.md says what
// maps to what and what differs.
package amapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/route"
	"github.com/aftershock/aftershock/internal/version"
	"github.com/aftershock/aftershock/internal/webauth"
)

// State is where the alerts come from (dispatch.StateView).
type State interface {
	Alerts() []*dispatch.AlertRecord
}

// Options configure the API.
type Options struct {
	State State
	// Silences is the SILENCES bucket; JS reads it whole (silence.List).
	Silences jetstream.KeyValue
	JS       jetstream.JetStream
	Routing  *route.Routing
	// RoutingText is the routing file, served as the configuration
	// (it holds no secrets: receivers name where theirs are).
	RoutingText string
	// ExternalURL prefixes alert links (generatorURL): <url>/alerts/<fp>;
	// its path prefixes the API's too (/aftershock/api/v2/…), besides /api/v2/.
	ExternalURL string
	Auth        webauth.Options
	// Name identifies this router in /status.
	Name    string
	Version version.Info
	Started time.Time
	Log     *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// API serves the endpoints; Mount puts them on a mux.
type API struct {
	o Options
}

// New checks o.
func New(o Options) (*API, error) {
	var errs []error
	if o.State == nil {
		errs = append(errs, errors.New("amapi: state is required"))
	}
	if o.Silences == nil || o.JS == nil {
		errs = append(errs, errors.New("amapi: silences bucket and JetStream are required"))
	}
	if o.Routing == nil {
		errs = append(errs, errors.New("amapi: routing is required"))
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
	if o.Started.IsZero() {
		o.Started = o.Now()
	}
	o.ExternalURL = strings.TrimRight(o.ExternalURL, "/")
	return &API{o: o}, nil
}

// Mount registers the endpoints on mux. Writes pass the cross-origin
// check (a page elsewhere cannot make a logged-in browser write) and
// webauth.
func (a *API) Mount(mux *http.ServeMux) {
	a.mount(mux, "")
	if p := a.pathPrefix(); p != "" {
		a.mount(mux, p)
	}
}

func (a *API) pathPrefix() string {
	u, err := url.Parse(a.o.ExternalURL)
	if err != nil {
		return ""
	}
	return strings.TrimRight(u.Path, "/")
}

func (a *API) mount(mux *http.ServeMux, p string) {
	cop := http.NewCrossOriginProtection()
	mux.HandleFunc("GET "+p+"/api/v2/status", a.status)
	mux.HandleFunc("GET "+p+"/api/v2/receivers", a.receivers)
	mux.HandleFunc("GET "+p+"/api/v2/alerts", a.alerts)
	mux.HandleFunc("GET "+p+"/api/v2/alerts/groups", a.groups)
	mux.HandleFunc("GET "+p+"/api/v2/silences", a.silences)
	mux.HandleFunc("GET "+p+"/api/v2/silence/{id}", a.silence)
	mux.Handle("POST "+p+"/api/v2/silences", cop.Handler(http.HandlerFunc(a.postSilence)))
	mux.Handle("DELETE "+p+"/api/v2/silence/{id}", cop.Handler(http.HandlerFunc(a.deleteSilence)))
	mux.HandleFunc("POST "+p+"/api/v2/alerts", func(w http.ResponseWriter, _ *http.Request) {
		httpError(w, http.StatusNotImplemented, "alerts come from aftershock's rules, not from clients: send events (POST /v1/events) or Alertmanager webhooks (POST /v1/alertmanager) to the ingest endpoints")
	})
	mux.HandleFunc("GET "+p+"/-/healthy", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("OK")) })
	mux.HandleFunc("GET "+p+"/-/ready", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("OK")) })
}

func (a *API) status(w http.ResponseWriter, _ *http.Request) {
	v := a.o.Version
	var st amStatus
	st.Cluster = clusterStatus{Name: a.o.Name, Status: "disabled", Peers: []peerStatus{}}
	st.VersionInfo = versionInfo{Version: strings.TrimPrefix(v.Version, "v"), Revision: v.Revision, Branch: "", BuildUser: "", BuildDate: v.Time, GoVersion: v.GoVersion}
	st.Config.Original = a.o.RoutingText
	st.Uptime = a.o.Started.UTC()
	writeJSON(w, st)
}

func (a *API) receivers(w http.ResponseWriter, _ *http.Request) {
	out := []receiver{}
	for _, n := range a.o.Routing.ReceiverNames() {
		out = append(out, receiver{Name: n})
	}
	writeJSON(w, out)
}

// ctx bounds the KV work of one request.
func (a *API) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), 10*time.Second)
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// httpError answers with Alertmanager's error shape: a JSON string.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(msg)
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	httpError(w, http.StatusBadRequest, fmt.Sprintf(format, args...))
}

// boolParam reads an optional boolean query parameter (default def).
func boolParam(r *http.Request, name string, def bool) (bool, error) {
	v := r.URL.Query().Get(name)
	switch v {
	case "":
		return def, nil
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("parameter %s=%q: want true or false", name, v)
}

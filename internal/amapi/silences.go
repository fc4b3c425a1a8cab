package amapi

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/aftershock/aftershock/internal/route"
	"github.com/aftershock/aftershock/internal/silence"
	"github.com/aftershock/aftershock/internal/webauth"
)

// maxBody bounds a posted silence.
const maxBody = 1 << 20

// ruleLabel is what Alertmanager's alertname is called in aftershock:
// silences store rule="…", which the notifier matches.
const ruleLabel = "rule"

func toAPISilence(s *silence.Silence, now time.Time) gettableSilence {
	g := gettableSilence{
		ID: s.ID, Status: silenceStatus{State: string(s.StateAt(now))},
		UpdatedAt: cmp.Or(s.UpdatedAt, s.CreatedAt, s.StartsAt).UTC(),
		StartsAt:  s.StartsAt.UTC(), EndsAt: s.EndsAt.UTC(), CreatedBy: s.CreatedBy, Comment: s.Comment,
		Matchers: []matcher{}, Annotations: labelSet{},
	}
	for _, text := range s.Matchers {
		m, err := route.ParseMatcher(text)
		if err != nil {
			continue // List returns valid silences only
		}
		eq := m.Type == route.MatchEqual || m.Type == route.MatchRegexp
		g.Matchers = append(g.Matchers, matcher{Name: m.Name, Value: m.Value,
			IsRegex: m.Type == route.MatchRegexp || m.Type == route.MatchNotRegexp, IsEqual: &eq})
	}
	return g
}

// fromAPIMatcher is the stored text of an API matcher; alertname becomes
// rule.
func fromAPIMatcher(m matcher) (string, error) {
	if m.Name == "" {
		return "", errors.New("matcher without a name")
	}
	name := m.Name
	if name == "alertname" {
		name = ruleLabel
	}
	eq := m.IsEqual == nil || *m.IsEqual
	typ := map[[2]bool]route.MatchType{{false, true}: route.MatchEqual, {false, false}: route.MatchNotEqual,
		{true, true}: route.MatchRegexp, {true, false}: route.MatchNotRegexp}[[2]bool{m.IsRegex, eq}]
	rm, err := route.NewMatcher(name, typ, m.Value)
	if err != nil {
		return "", err
	}
	return rm.String(), nil
}

func (a *API) silences(w http.ResponseWriter, r *http.Request) {
	filter, err := parseFilter(r.URL.Query()["filter"])
	if err != nil {
		badRequest(w, "filter: %v", err)
		return
	}
	for _, m := range filter {
		if m.Name == "alertname" {
			m.Name = ruleLabel
		}
	}
	want := map[silence.State]bool{}
	for _, st := range []silence.State{silence.Active, silence.Pending, silence.Expired} {
		if want[st], err = boolParam(r, string(st), true); err != nil {
			badRequest(w, "%v", err)
			return
		}
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	sils, _, err := silence.List(ctx, a.o.JS, a.o.Silences.Bucket())
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	now := a.o.Now()
	out := []gettableSilence{}
	for _, s := range sils {
		if want[s.StateAt(now)] && hasMatchers(s, filter) {
			out = append(out, toAPISilence(s, now))
		}
	}
	sortSilences(out)
	writeJSON(w, out)
}

// hasMatchers is Alertmanager's silence filter: every filter matcher is
// one of the silence's, the same name, operator and value.
func hasMatchers(s *silence.Silence, filter route.Matchers) bool {
	for _, f := range filter {
		if !slices.ContainsFunc(s.Matchers, func(text string) bool {
			m, err := route.ParseMatcher(text)
			return err == nil && m.Name == f.Name && m.Type == f.Type && m.Value == f.Value
		}) {
			return false
		}
	}
	return true
}

// sortSilences orders as Alertmanager does: active (ending first),
// pending (starting first), expired (most recent first).
func sortSilences(ss []gettableSilence) {
	rank := map[string]int{"active": 0, "pending": 1, "expired": 2}
	slices.SortStableFunc(ss, func(x, y gettableSilence) int {
		if c := cmp.Compare(rank[x.Status.State], rank[y.Status.State]); c != 0 {
			return c
		}
		switch x.Status.State {
		case "pending":
			return x.StartsAt.Compare(y.StartsAt)
		case "expired":
			return y.EndsAt.Compare(x.EndsAt)
		}
		return x.EndsAt.Compare(y.EndsAt)
	})
}

func (a *API) silence(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	ctx, cancel := a.ctx(r)
	defer cancel()
	e, err := a.o.Silences.Get(ctx, id)
	if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrInvalidKey) {
		httpError(w, http.StatusNotFound, fmt.Sprintf("silence %s not found", id))
		return
	}
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	s, _, err := silence.Decode(id, e.Value())
	if err != nil {
		httpError(w, http.StatusInternalServerError, fmt.Sprintf("stored silence is invalid (routers ignore it): %v", err))
		return
	}
	writeJSON(w, toAPISilence(s, a.o.Now()))
}

// postSilence creates a silence, or changes the one with the posted id;
// an expired one is left as it was and a new one is created instead, as
// Alertmanager does.
func (a *API) postSilence(w http.ResponseWriter, r *http.Request) {
	who, err := a.o.Auth.Writer(r)
	if err != nil {
		httpError(w, webauth.Status(err), err.Error())
		return
	}
	var ps postableSilence
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	if err := dec.Decode(&ps); err != nil {
		badRequest(w, "silence: %v", err)
		return
	}
	now := a.o.Now()
	s, err := a.fromPostable(&ps, who, now)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	ctx, cancel := a.ctx(r)
	defer cancel()
	if s.ID != "" {
		err = silence.Replace(ctx, a.o.Silences, s, now)
		if errors.Is(err, silence.ErrExpired) {
			s.ID, s.UpdatedAt = "", time.Time{}
			err = silence.Add(ctx, a.o.Silences, s, now)
		}
	} else {
		err = silence.Add(ctx, a.o.Silences, s, now)
	}
	switch {
	case errors.Is(err, silence.ErrNotFound):
		httpError(w, http.StatusNotFound, err.Error())
		return
	case err != nil:
		badRequest(w, "%v", err)
		return
	}
	a.o.Log.Info("silence stored through the API", "id", s.ID, "matchers", s.Matchers, "ends_at", s.EndsAt, "created_by", s.CreatedBy)
	writeJSON(w, map[string]string{"silenceID": s.ID})
}

// fromPostable checks a posted silence. A user named by the reverse proxy
// is the author, whatever the body says.
func (a *API) fromPostable(ps *postableSilence, who string, now time.Time) (*silence.Silence, error) {
	var errs []error
	if len(ps.Matchers) == 0 {
		errs = append(errs, errors.New("matchers: at least one is required"))
	}
	s := &silence.Silence{ID: ps.ID, CreatedBy: cmp.Or(who, ps.CreatedBy), Comment: ps.Comment}
	for i, m := range ps.Matchers {
		text, err := fromAPIMatcher(m)
		if err != nil {
			errs = append(errs, fmt.Errorf("matchers[%d]: %w", i, err))
			continue
		}
		s.Matchers = append(s.Matchers, text)
	}
	if ps.StartsAt == nil || ps.EndsAt == nil {
		errs = append(errs, errors.New("startsAt and endsAt are required"))
	} else {
		s.StartsAt, s.EndsAt = ps.StartsAt.UTC(), ps.EndsAt.UTC()
		if s.StartsAt.Before(now) {
			s.StartsAt = now.UTC() // as Alertmanager: a silence does not start in the past
		}
		if !s.EndsAt.After(now) {
			errs = append(errs, fmt.Errorf("endsAt %s is in the past", s.EndsAt.Format(time.RFC3339)))
		}
	}
	if len(ps.Annotations) > 0 {
		errs = append(errs, errors.New("annotations: not stored by aftershock; say it in the comment"))
	}
	return s, errors.Join(errs...)
}

func (a *API) deleteSilence(w http.ResponseWriter, r *http.Request) {
	if _, err := a.o.Auth.Writer(r); err != nil {
		httpError(w, webauth.Status(err), err.Error())
		return
	}
	id := r.PathValue("id")
	ctx, cancel := a.ctx(r)
	defer cancel()
	_, err := silence.Expire(ctx, a.o.Silences, id, a.o.Now())
	switch {
	case errors.Is(err, silence.ErrNotFound), errors.Is(err, jetstream.ErrInvalidKey):
		httpError(w, http.StatusNotFound, fmt.Sprintf("silence %s not found", id))
		return
	case err != nil:
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	a.o.Log.Info("silence expired through the API", "id", id)
	w.WriteHeader(http.StatusOK)
}

package amapi

import (
	"cmp"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/inhibit"
	"github.com/aftershock/aftershock/internal/route"
	"github.com/aftershock/aftershock/internal/silence"
)

// view is one firing alert as the API shows it, with what it needs to
// filter and group it.
type view struct {
	a      *alert.Alert
	labels map[string]string // routing labels: what silences and routes match
	out    *gettableAlert
}

// alertQuery is the filter of /alerts and /alerts/groups.
type alertQuery struct {
	active, silenced, inhibited bool
	filter                      route.Matchers
	receiver                    *regexp.Regexp
}

func parseAlertQuery(r *http.Request) (alertQuery, error) {
	q := alertQuery{}
	var err error
	for _, p := range []struct {
		name string
		v    *bool
	}{{"active", &q.active}, {"silenced", &q.silenced}, {"inhibited", &q.inhibited}} {
		if *p.v, err = boolParam(r, p.name, true); err != nil {
			return q, err
		}
	}
	if _, err := boolParam(r, "unprocessed", true); err != nil {
		return q, err
	}
	if q.filter, err = parseFilter(r.URL.Query()["filter"]); err != nil {
		return q, err
	}
	if rv := r.URL.Query().Get("receiver"); rv != "" {
		if q.receiver, err = regexp.Compile("^(?:" + rv + ")$"); err != nil {
			return q, err
		}
	}
	return q, nil
}

// parseFilter reads filter matchers; alertname is the rule's name.
func parseFilter(ss []string) (route.Matchers, error) {
	var out route.Matchers
	for _, s := range ss {
		s = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(s), "{"), "}"))
		if s == "" {
			continue
		}
		m, err := route.ParseMatcher(s)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

// snapshot builds the views of the firing alerts with their status: which
// active silences and which firing alerts (by the routing file's
// inhibition rules) mute each one, as the notifier decides.
func (a *API) snapshot(recs []*dispatch.AlertRecord, sils []*silence.Silence, now time.Time) []*view {
	type compiled struct {
		id string
		ms route.Matchers
	}
	var active []compiled
	for _, s := range sils {
		if s.StateAt(now) != silence.Active {
			continue
		}
		if ms, err := s.Validate(); err == nil {
			active = append(active, compiled{s.ID, ms})
		}
	}
	inh := inhibit.New(a.o.Routing.Inhibit)
	var views []*view
	for _, rec := range recs {
		if rec.Alert == nil || rec.Alert.State != alert.Firing {
			continue // resolved: gone from Alertmanager's view too
		}
		v := &view{a: rec.Alert, labels: route.Labels(rec.Alert)}
		inh.Set(v.a.Fingerprint, v.labels, v.a.Drill)
		v.out = a.gettable(rec)
		views = append(views, v)
	}
	for _, v := range views {
		st := &v.out.Status
		for _, s := range active {
			if s.ms.Matches(v.labels) {
				st.SilencedBy = append(st.SilencedBy, s.id)
			}
		}
		if src, ok := inh.InhibitedBy(v.a.Fingerprint, v.labels, v.a.Drill); ok {
			st.InhibitedBy = append(st.InhibitedBy, src)
		}
		if len(st.SilencedBy)+len(st.InhibitedBy) > 0 {
			st.State = "suppressed"
		}
	}
	return views
}

// gettable is the alert in Alertmanager's shape. Labels are the routing
// labels plus alertname (the rule); the texts are annotations; endsAt is
// when resolve_timeout would resolve it without news.
func (a *API) gettable(rec *dispatch.AlertRecord) *gettableAlert {
	al := rec.Alert
	labels := route.Labels(al)
	labels["alertname"] = al.Rule
	ann := labelSet{}
	maps.Copy(ann, al.Annotations)
	for k, v := range map[string]string{"summary": al.Summary, "description": al.Details, "title": al.Headline} {
		if v != "" {
			ann[k] = v
		}
	}
	if al.Drill {
		ann["drill"] = "true"
	}
	g := &gettableAlert{
		Annotations: ann, Fingerprint: al.Fingerprint, Labels: labels,
		StartsAt: al.Begins().UTC(), UpdatedAt: rec.Updated.UTC(), EndsAt: rec.Updated.Add(a.o.Routing.ResolveTimeout).UTC(),
		Status: alertStatus{State: "active", SilencedBy: []string{}, InhibitedBy: []string{}, MutedBy: []string{}},
	}
	for _, r := range a.receiversOf(al, route.Labels(al)) {
		g.Receivers = append(g.Receivers, receiverRef{r.Receiver})
	}
	if a.o.ExternalURL != "" {
		g.GeneratorURL = a.o.ExternalURL + "/alerts/" + al.Fingerprint
	}
	return g
}

// receiversOf is where the notifier sends the alert (the same answer
// the dispatcher delivers by).
func (a *API) receiversOf(al *alert.Alert, labels map[string]string) []route.Destination {
	dests, _ := a.o.Routing.Destinations(labels, al.Receivers, al.Drill)
	return dests
}

func (q alertQuery) keep(v *view) bool {
	st := v.out.Status
	switch {
	case !q.active && st.State == "active",
		!q.silenced && len(st.SilencedBy) > 0,
		!q.inhibited && len(st.InhibitedBy) > 0,
		!q.filter.Matches(v.out.Labels):
		return false
	}
	if q.receiver != nil {
		return slices.ContainsFunc(v.out.Receivers, func(r receiverRef) bool { return q.receiver.MatchString(r.Name) })
	}
	return true
}

func (a *API) load(w http.ResponseWriter, r *http.Request) ([]*view, bool) {
	ctx, cancel := a.ctx(r)
	defer cancel()
	sils, _, err := silence.List(ctx, a.o.JS, a.o.Silences.Bucket())
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return nil, false
	}
	return a.snapshot(a.o.State.Alerts(), sils, a.o.Now()), true
}

func (a *API) alerts(w http.ResponseWriter, r *http.Request) {
	q, err := parseAlertQuery(r)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	views, ok := a.load(w, r)
	if !ok {
		return
	}
	out := []*gettableAlert{}
	for _, v := range views {
		if q.keep(v) {
			out = append(out, v.out)
		}
	}
	writeJSON(w, out)
}

// groups are the aggregation groups as the notifier forms them: per
// route and receiver, by the route's group_by labels (or one per alert
// with "..."), drills apart from live alerts.
func (a *API) groups(w http.ResponseWriter, r *http.Request) {
	q, err := parseAlertQuery(r)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	muted, err := boolParam(r, "muted", true)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	views, ok := a.load(w, r)
	if !ok {
		return
	}
	type key struct {
		route, receiver, labels string
		drill                   bool
	}
	byKey := map[key]*alertGroup{}
	var order []key
	for _, v := range views {
		if !q.keep(v) {
			continue
		}
		for _, rr := range a.receiversOf(v.a, v.labels) {
			if q.receiver != nil && !q.receiver.MatchString(rr.Receiver) {
				continue
			}
			gl := rr.Route.GroupLabels(v.labels)
			k := key{rr.Route.ID, rr.Receiver, labelKey(gl), v.a.Drill}
			if rr.Route.GroupByAll {
				k.labels = v.a.Fingerprint
			}
			g := byKey[k]
			if g == nil {
				g = &alertGroup{Labels: labelSet(gl), RouteLabels: labelSet{}, Receiver: receiverRef{rr.Receiver}}
				byKey[k] = g
				order = append(order, k)
			}
			g.Alerts = append(g.Alerts, v.out)
		}
	}
	out := []*alertGroup{}
	for _, k := range order {
		g := byKey[k]
		if !muted && allMuted(g) {
			continue
		}
		slices.SortFunc(g.Alerts, func(x, y *gettableAlert) int {
			return cmp.Or(x.StartsAt.Compare(y.StartsAt), cmp.Compare(x.Fingerprint, y.Fingerprint))
		})
		out = append(out, g)
	}
	slices.SortFunc(out, func(x, y *alertGroup) int {
		return cmp.Or(cmp.Compare(x.Receiver.Name, y.Receiver.Name), cmp.Compare(labelKey(x.Labels), labelKey(y.Labels)))
	})
	writeJSON(w, out)
}

func allMuted(g *alertGroup) bool {
	for _, al := range g.Alerts {
		if al.Status.State != "suppressed" {
			return false
		}
	}
	return true
}

func labelKey(l map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(l)) {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(l[k])
		b.WriteByte(0)
	}
	return b.String()
}

package webui

import (
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/bus"
	"github.com/aftershock/aftershock/internal/dispatch"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/route"
	"github.com/aftershock/aftershock/internal/silence"
)

// incident is the alerts of one cluster on one timeline.
type incident struct {
	Cluster string
	Drill   bool
	Firing  int
	Latest  time.Time
	Alerts  []*alert.Alert
}

type indexData struct {
	Live, Drills []*incident
}

// latest merges the alerts' history with the stored state: the newest
// version of each.
func (u *UI) latest() map[string]*alert.Alert {
	all := map[string]*alert.Alert{}
	for _, a := range u.o.AlertLog.Latest() {
		all[a.Fingerprint] = a
	}
	for _, rec := range u.o.State.Alerts() {
		if old := all[rec.Alert.Fingerprint]; old == nil || rec.Alert.CreatedAt.After(old.CreatedAt) {
			all[rec.Alert.Fingerprint] = rec.Alert
		}
	}
	return all
}

func (u *UI) index(w http.ResponseWriter, r *http.Request) {
	byKey := map[[2]string]*incident{}
	for _, a := range u.latest() {
		tl := "live"
		if a.Drill {
			tl = "drill"
		}
		k := [2]string{tl, a.Labels["cluster"]}
		in := byKey[k]
		if in == nil {
			in = &incident{Cluster: cmp.Or(a.Labels["cluster"], "(no cluster)"), Drill: a.Drill}
			byKey[k] = in
		}
		in.Alerts = append(in.Alerts, a)
		if a.State == alert.Firing {
			in.Firing++
		}
		if a.CreatedAt.After(in.Latest) {
			in.Latest = a.CreatedAt
		}
	}
	var d indexData
	for _, in := range byKey {
		slices.SortFunc(in.Alerts, func(x, y *alert.Alert) int {
			return cmp.Or(cmp.Compare(stateRank(x), stateRank(y)), cmp.Compare(sevRank(x.Severity), sevRank(y.Severity)),
				y.Begins().Compare(x.Begins()), cmp.Compare(x.Rule, y.Rule))
		})
		if in.Drill {
			d.Drills = append(d.Drills, in)
		} else {
			d.Live = append(d.Live, in)
		}
	}
	for _, l := range [][]*incident{d.Live, d.Drills} {
		slices.SortFunc(l, func(x, y *incident) int {
			return cmp.Or(-cmp.Compare(x.Firing, y.Firing), y.Latest.Compare(x.Latest), cmp.Compare(x.Cluster, y.Cluster))
		})
	}
	u.render(w, "index", http.StatusOK, u.page(r, "Alerts", d))
}

func stateRank(a *alert.Alert) int {
	if a.State == alert.Firing {
		return 0
	}
	return 1
}

func sevRank(s string) int {
	switch s {
	case "critical":
		return 0
	case "warning":
		return 1
	}
	return 2
}

// crash is what is known of the alert's node going down.
type crash struct {
	Node          string
	Cause         string
	CauseTime     time.Time
	LastHeartbeat time.Time
	Reported      time.Time
	Memory        string
	Vmcore        string
	LastWords     []string
	LastWordsFrom string
	Kdump         *event.KdumpState
	KdumpAt       time.Time
	Kernel        string
	Pods          []event.PodRef
	PodsOmitted   int
	PostureFound  bool
	RebootFound   bool
}

type silenceRow struct {
	S     *silence.Silence
	State silence.State
}

type alertData struct {
	A        *alert.Alert
	B        *brief.Brief
	Updated  time.Time
	Stored   bool
	Chart    *Chart
	ChartErr string
	Crash    *crash
	Silences []silenceRow
	Matchers string
	History  []dispatch.Delivery
	Versions []*alert.Alert
	Back     string
}

func (u *UI) alertPage(w http.ResponseWriter, r *http.Request) {
	fp := r.PathValue("fp")
	d := &alertData{Back: "/alerts/" + fp}
	versions := u.o.AlertLog.Versions(fp)
	if rec := u.o.State.Alert(fp); rec != nil {
		d.A, d.Updated, d.Stored = rec.Alert, rec.Updated, true
	}
	if n := len(versions); n > 0 && (d.A == nil || versions[n-1].CreatedAt.After(d.A.CreatedAt)) {
		d.A = versions[n-1]
	}
	if d.A == nil {
		p := u.page(r, "Alert not found", nil)
		p.Error = "No alert " + fp + " in ALERT_STATE or in the ALERTS history this router reads (it may have aged out)."
		u.render(w, "alert", http.StatusNotFound, p)
		return
	}
	a := d.A
	d.Versions = versions
	d.B = brief.Of(a, brief.Options{Clock: u.clock, ExternalURL: u.o.Routing.ExternalURL})
	ctx, cancel := u.ctx(r)
	defer cancel()
	ev, err := readEvidence(ctx, u.o.JS, a)
	if err != nil {
		d.ChartErr = err.Error()
	} else {
		d.Chart = buildChart(a, ev, u.clock)
	}
	d.Crash = u.crashOf(ctx, a, ev)
	if h := u.o.State.History(fp); h != nil {
		d.History = h.Deliveries
	}
	labels := route.Labels(a)
	if sils, _, err := silence.List(ctx, u.o.JS, u.o.Silences.Bucket()); err == nil {
		now := u.o.Now()
		for _, s := range sils {
			ms, err := s.Validate()
			if err != nil || !ms.Matches(labels) || s.StateAt(now) == silence.Expired && now.Sub(s.EndsAt) > 24*time.Hour {
				continue
			}
			d.Silences = append(d.Silences, silenceRow{s, s.StateAt(now)})
		}
	}
	ms := []string{(&route.Matcher{Name: "rule", Type: route.MatchEqual, Value: a.Rule}).String()}
	for _, k := range []string{"node", "cluster"} {
		if v := a.Labels[k]; v != "" {
			ms = append(ms, (&route.Matcher{Name: k, Type: route.MatchEqual, Value: v}).String())
			break
		}
	}
	d.Matchers = strings.Join(ms, "\n")
	title := d.B.Title
	if a.Drill {
		title = "[DRILL] " + title
	}
	u.render(w, "alert", http.StatusOK, u.page(r, title, d))
}

// crashOf gathers what is known of the alert's node: its reboot report
// (cause, last words, memory), its last posture before (kdump, pods), from
// the alert's own evidence, the events around it, and for live nodes the
// last posture stored on its subject.
func (u *UI) crashOf(ctx context.Context, a *alert.Alert, ev *Evidence) *crash {
	node := a.Labels["node"]
	if node == "" {
		return nil
	}
	c := &crash{Node: node}
	var events []event.Event
	events = append(events, a.Evidence...)
	if ev != nil {
		events = append(events, ev.Events...)
	}
	var posture *event.Event
	for i := range events {
		e := &events[i]
		if e.Node != node {
			continue
		}
		switch e.Type {
		case event.TypeReboot:
			var d event.Reboot
			if json.Unmarshal(e.Data, &d) != nil || d.Clean || c.RebootFound {
				continue
			}
			c.RebootFound = true
			c.Cause, c.CauseTime, c.LastHeartbeat, c.Reported, c.Vmcore = cmp.Or(d.CauseDetail, d.Cause), d.CauseTime, d.LastHeartbeat, e.Time, d.Vmcore
			c.LastWords, c.LastWordsFrom = d.LastWords, strings.Join(d.Sources, ", ")
			// As the messages say it, and where the snapshot came from.
			if c.Memory = brief.MemoryBefore(&d); c.Memory != "" && d.MeminfoAgeSeconds > 0 {
				c.Memory += " (" + d.MeminfoSource + ")"
			}
		case event.TypePosture:
			if posture == nil || e.Time.After(posture.Time) {
				posture = e
			}
		}
	}
	if posture == nil && !a.Drill {
		subj := event.LivePrefix + "." + event.Token(a.Labels["cluster"]) + "." + event.Token(node) + ".posture"
		if st, err := u.o.JS.Stream(ctx, bus.StreamEvents); err == nil {
			if m, err := st.GetLastMsgForSubject(ctx, subj); err == nil {
				if e, err := event.Decode(m.Data); err == nil {
					posture = e
				}
			}
		}
	}
	if posture != nil {
		var p event.Posture
		if json.Unmarshal(posture.Data, &p) == nil {
			c.PostureFound, c.Kdump, c.KdumpAt, c.Kernel, c.Pods, c.PodsOmitted = true, p.Kdump, posture.Time, p.KernelRelease, p.Pods, p.PodsOmitted
		}
	}
	if !c.RebootFound && !c.PostureFound {
		return nil
	}
	return c
}

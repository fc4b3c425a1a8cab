package drills_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/correlate"
	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/inhibit"
	"github.com/aftershock/aftershock/internal/notify"
	slackrecv "github.com/aftershock/aftershock/internal/notify/slack"
	"github.com/aftershock/aftershock/internal/route"
	"github.com/aftershock/aftershock/internal/router"
)

// TestGoldenPages renders, for every recorded incident, what the on-call
// reads in Slack: each alert's first page, each significant update and
// the resolve notice, in the order the engine raised them, into
// <drill>/golden/pages.txt. An alert the shipped routing's inhibition
// rules mute (judged once every alert of the same event is known, as the
// lifecycle does when it flushes) is one line saying which alert mutes
// it: nobody reads it at 3am. The file is there to be read in review like
// a real page (and to catch a change nobody meant); `go test
// ./deploy/drills -run GoldenPages -update` rewrites the files after a
// deliberate change. Grouping is not applied: each alert is shown alone.
func TestGoldenPages(t *testing.T) {
	set, err := router.LoadRules("../../rules", nil)
	if err != nil {
		t.Fatal(err)
	}
	routing, err := route.Load("../../rules")
	if err != nil {
		t.Fatal(err)
	}
	o := goldenOptions(t)
	sr := slackrecv.Renderer{Brief: o}
	for _, d := range drills {
		t.Run(d.dir, func(t *testing.T) {
			var last time.Time
			for _, raw := range d.lines(t) {
				ev, err := event.Decode(raw)
				if err != nil {
					t.Fatal(err)
				}
				last = ev.Time
			}
			e := correlate.New(set, bustest.Logger(t), correlate.Options{Now: func() time.Time { return last }})
			var out strings.Builder
			pages := 0
			in := inhibit.New(routing.Inhibit)
			rules := map[string]string{} // fingerprint → rule, to name what mutes
			told := map[string]bool{}    // fingerprints paged
			for _, raw := range d.lines(t) {
				ev, _ := event.Decode(raw)
				raised := e.Process(ev, correlate.Meta{Arrival: ev.Time})
				for _, a := range raised {
					rules[a.Fingerprint] = a.Rule
					if a.State == alert.Resolved {
						in.Remove(a.Fingerprint)
					} else {
						in.Set(a.Fingerprint, route.Labels(a), a.Drill)
					}
				}
				for _, a := range raised {
					a.RulesVersion = "git:0123abcd" // a golden file outlives commits
					if src, muted := in.InhibitedBy(a.Fingerprint, route.Labels(a), a.Drill); muted && a.State != alert.Resolved {
						fmt.Fprintf(&out, "════ %s · muted · event time %s: inhibited by %s\n\n", a.Rule, ev.Time.UTC().Format(time.TimeOnly), rules[src])
						continue
					}
					if a.State == alert.Resolved && !told[a.Fingerprint] {
						continue // never paged: no resolve notice either
					}
					m := &notify.Message{GroupID: "g", Receiver: "oncall", Firing: []*alert.Alert{a}}
					switch {
					case a.State == alert.Resolved:
						m.Firing, m.Resolved, m.Kind = nil, []*alert.Alert{a}, notify.KindResolved
					case a.Update == 0 || !told[a.Fingerprint]:
						m.Kind, m.Fresh = notify.KindPage, map[string]bool{a.Fingerprint: true}
						told[a.Fingerprint] = true
						pages++
					case a.Change != nil && a.Change.Significant:
						m.Kind, m.News = notify.KindUpdate, map[string][]string{a.Fingerprint: a.Change.Notes}
					default:
						continue
					}
					blocks, fb := sr.Blocks(&notify.Notification{Receiver: "oncall", Messages: []*notify.Message{m}})
					b, err := json.Marshal(map[string]any{"text": fb, "blocks": blocks})
					if err != nil {
						t.Fatal(err)
					}
					text := blockText(t, b)
					if strings.Contains(text, `{"`) {
						t.Errorf("%s %s: raw JSON in the message:\n%s", a.Rule, m.Kind, text)
					}
					fmt.Fprintf(&out, "════ %s · %s · event time %s\n%s\n", a.Rule, m.Kind, ev.Time.UTC().Format(time.TimeOnly), text)
				}
			}
			if pages == 0 {
				t.Fatal("the drill pages nobody")
			}
			golden(t, filepath.Join(d.dir, "golden", "pages.txt"), []byte(out.String()))
		})
	}
}

package brief

import (
	"fmt"
	"strings"
	"time"
)

// Clock formats times for people: in the routing's time zone beside UTC
// (what the on-call's watch says, and what logs and other teams say), or in
// UTC alone.
type Clock struct {
	// Loc is the local zone; nil or UTC shows UTC only.
	Loc *time.Location
}

func (c Clock) local() bool { return c.Loc != nil && c.Loc != time.UTC && c.Loc.String() != "UTC" }

// At is a full time: "2020-06-14 13:14:30 CST (05:14:30 UTC)".
func (c Clock) At(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	if !c.local() {
		return t.UTC().Format("2006-01-02 15:04:05 UTC")
	}
	l := t.In(c.Loc)
	u := t.UTC()
	if l.YearDay() != u.YearDay() {
		return l.Format("2006-01-02 15:04:05 MST") + u.Format(" (Jan 2 15:04:05 UTC)")
	}
	return l.Format("2006-01-02 15:04:05 MST") + u.Format(" (15:04:05 UTC)")
}

// Time is a time of day within an incident: "13:14:30", in the local zone
// when there is one (the zone is named once, in the message's fields).
func (c Clock) Time(t time.Time) string {
	if c.local() {
		return t.In(c.Loc).Format("15:04:05")
	}
	return t.UTC().Format("15:04:05")
}

// Zone names the zone Time uses: "CST" or "UTC".
func (c Clock) Zone(t time.Time) string {
	if c.local() {
		return t.In(c.Loc).Format("MST")
	}
	return "UTC"
}

// Span is "13:14:38–13:20:40" (or one time when they are equal).
func (c Clock) Span(a, b time.Time) string {
	if a.Equal(b) {
		return c.Time(a)
	}
	return c.Time(a) + "–" + c.Time(b)
}

// Duration is a duration for people: "6m2s", "2h5m", "3d4h".
func Duration(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return d.String()
	case d < time.Hour:
		return strings.TrimSuffix(d.Round(time.Second).String(), "0s")
	case d < 48*time.Hour:
		s := strings.TrimSuffix(d.Round(time.Minute).String(), "0s")
		if strings.HasSuffix(s, "h0m") { // 6h, not 6h0m
			s = strings.TrimSuffix(s, "0m")
		}
		return s
	}
	days := d / (24 * time.Hour)
	return fmt.Sprintf("%dd%dh", days, (d-days*24*time.Hour)/time.Hour)
}

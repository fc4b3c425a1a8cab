package webui

import (
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aftershock/aftershock/internal/alert"
	"github.com/aftershock/aftershock/internal/brief"
	"github.com/aftershock/aftershock/internal/event"
)

// Chart is a timeline of an alert's evidence, drawn as SVG on the server:
// the crashed node's heartbeats and what its kernel and reboot said, the
// DNS and RPC timeouts of each node over time, and the moments that
// decide the story (last heartbeat, crash, page, cause known).
type Chart struct {
	Width, Height int
	PlotX, PlotW  int
	Rows          []ChartRow
	Marks         []Mark
	Lines         []Moment
	Ticks         []Tick
	Legend        []LegendItem
	// Empty says there was nothing to draw, and why.
	Empty string
}

// ChartRow is a labelled band.
type ChartRow struct {
	Label string
	Y, H  int
	Class string
}

// Mark is one shape: a heartbeat tick, a timeout cell, a kernel event.
type Mark struct {
	Shape      string // rect, circle, diamond
	X, Y, W, H float64
	Class      string
	Opacity    float64
	Title      string // shown on hover without JavaScript (SVG <title>)
	// Points is the diamond's polygon.
	Points string
}

// Moment is a vertical line with a label.
type Moment struct {
	X      float64
	Label  string
	Class  string
	LabelY int
}

// Tick is a time on the axis.
type Tick struct {
	X     float64
	Label string
}

// LegendItem explains a class.
type LegendItem struct{ Class, Label string }

const (
	chartW      = 1100
	labelW      = 190
	rowH        = 22
	axisH       = 34
	maxNodeRows = 14
	buckets     = 60
)

// timeoutTypes are drawn per node.
var timeoutTypes = map[string]string{event.TypeDNSTimeout: "dns", event.TypeRPCTimeout: "rpc"}

// occurrences is how many failures an event stands for (a rollup counts
// several).
func occurrences(ev *event.Event) int {
	var d struct {
		Count int `json:"count"`
	}
	if json.Unmarshal(ev.Data, &d) == nil && d.Count > 1 {
		return d.Count
	}
	return 1
}

// buildChart lays out the evidence of a on a time axis.
func buildChart(a *alert.Alert, ev *Evidence, clock brief.Clock) *Chart {
	c := &Chart{Width: chartW, PlotX: labelW, PlotW: chartW - labelW - 20}
	if ev == nil || len(ev.Events) == 0 {
		c.Empty = "no events of this alert's cluster in its time range are stored in EVENTS (they may have aged out)"
		c.Height = 40
		return c
	}
	from, to := ev.From, ev.To
	span := to.Sub(from)
	x := func(t time.Time) float64 {
		return float64(c.PlotX) + float64(t.Sub(from))/float64(span)*float64(c.PlotW)
	}
	node := a.Labels["node"]
	y := axisH
	addRow := func(label, class string) ChartRow {
		r := ChartRow{Label: label, Y: y, H: rowH, Class: class}
		c.Rows = append(c.Rows, r)
		y += rowH
		return r
	}

	// The alert's node: heartbeats, kernel events, its reboot placed at
	// its last heartbeat (when it died), not when it was reported.
	var reboot *event.Event
	var rebootData event.Reboot
	if node != "" {
		hb := addRow(node+" heartbeats", "row-node")
		kr := addRow(node+" kernel, reboot", "row-node")
		for i := range ev.Events {
			e := &ev.Events[i]
			if e.Node != node {
				continue
			}
			switch {
			case e.Type == event.TypeHeartbeat:
				c.Marks = append(c.Marks, Mark{Shape: "rect", X: x(e.Time) - 1, Y: float64(hb.Y + 5), W: 2, H: rowH - 10, Class: "hb", Opacity: 1,
					Title: "heartbeat " + clock.Time(e.Time)})
			case e.Type == event.TypeReboot:
				reboot = e
			case len(e.Type) > 7 && e.Type[:7] == "kernel.":
				c.Marks = append(c.Marks, diamond(x(e.Time), float64(kr.Y+rowH/2), 6, "kernel", e.Type+" "+clock.Time(e.Time)))
			}
		}
		if reboot != nil && json.Unmarshal(reboot.Data, &rebootData) == nil {
			at := cmp.Or(rebootData.CauseTime, rebootData.LastHeartbeat, reboot.Time)
			title := fmt.Sprintf("node.reboot reported %s; placed at %s", clock.Time(reboot.Time), clock.Time(at))
			if rebootData.CauseDetail != "" {
				title += ": " + rebootData.CauseDetail
			}
			c.Marks = append(c.Marks, diamond(x(at), float64(kr.Y+rowH/2), 8, "reboot", title))
			c.Marks = append(c.Marks, Mark{Shape: "rect", X: x(at), Y: float64(kr.Y + rowH/2 - 1), W: max(0, x(reboot.Time)-x(at)), H: 2, Class: "report", Opacity: 1,
				Title: "from the crash to its report"})
			c.Marks = append(c.Marks, Mark{Shape: "circle", X: x(reboot.Time), Y: float64(kr.Y + rowH/2), W: 4, Class: "report", Opacity: 1, Title: title})
		}
	}

	// Timeouts per node, in buckets: DNS above, RPC below.
	type cell struct{ dns, rpc int }
	perNode := map[string]map[int]*cell{}
	total := map[string]int{}
	first := map[string]time.Time{}
	bucketOf := func(t time.Time) int { return min(buckets-1, int(float64(t.Sub(from))/float64(span)*buckets)) }
	for i := range ev.Events {
		e := &ev.Events[i]
		kind, ok := timeoutTypes[e.Type]
		if !ok {
			continue
		}
		if perNode[e.Node] == nil {
			perNode[e.Node] = map[int]*cell{}
			first[e.Node] = e.Time
		}
		b := bucketOf(e.Time)
		if perNode[e.Node][b] == nil {
			perNode[e.Node][b] = &cell{}
		}
		n := occurrences(e)
		if kind == "dns" {
			perNode[e.Node][b].dns += n
		} else {
			perNode[e.Node][b].rpc += n
		}
		total[e.Node] += n
	}
	nodes := slices.Collect(maps.Keys(perNode))
	slices.SortFunc(nodes, func(p, q string) int { return cmp.Or(-cmp.Compare(total[p], total[q]), cmp.Compare(p, q)) })
	shown, rest := nodes, []string(nil)
	if len(nodes) > maxNodeRows {
		shown, rest = nodes[:maxNodeRows-1], nodes[maxNodeRows-1:]
	}
	slices.SortFunc(shown, func(p, q string) int { return cmp.Or(first[p].Compare(first[q]), cmp.Compare(p, q)) })
	peak := 1
	for _, cs := range perNode {
		for _, cl := range cs {
			peak = max(peak, cl.dns, cl.rpc)
		}
	}
	bw := float64(c.PlotW) / buckets
	draw := func(r ChartRow, cs map[int]*cell, who string) {
		for b, cl := range cs {
			bx := float64(c.PlotX) + float64(b)*bw
			at := clock.Time(from.Add(time.Duration(b) * span / buckets))
			if cl.dns > 0 {
				c.Marks = append(c.Marks, Mark{Shape: "rect", X: bx + 0.5, Y: float64(r.Y + 2), W: bw - 1, H: rowH/2 - 2, Class: "dns",
					Opacity: 0.25 + 0.75*float64(cl.dns)/float64(peak), Title: fmt.Sprintf("%s: %d DNS timeouts from %s", who, cl.dns, at)})
			}
			if cl.rpc > 0 {
				c.Marks = append(c.Marks, Mark{Shape: "rect", X: bx + 0.5, Y: float64(r.Y + rowH/2), W: bw - 1, H: rowH/2 - 2, Class: "rpc",
					Opacity: 0.25 + 0.75*float64(cl.rpc)/float64(peak), Title: fmt.Sprintf("%s: %d RPC timeouts from %s", who, cl.rpc, at)})
			}
		}
	}
	for _, n := range shown {
		draw(addRow(fmt.Sprintf("%s (%d)", n, total[n]), "row-timeouts"), perNode[n], n)
	}
	if len(rest) > 0 {
		merged := map[int]*cell{}
		sum := 0
		for _, n := range rest {
			sum += total[n]
			for b, cl := range perNode[n] {
				if merged[b] == nil {
					merged[b] = &cell{}
				}
				merged[b].dns += cl.dns
				merged[b].rpc += cl.rpc
			}
		}
		draw(addRow(fmt.Sprintf("%d other nodes (%d)", len(rest), sum), "row-timeouts"), merged, fmt.Sprintf("%d other nodes", len(rest)))
	}
	if node == "" && len(nodes) == 0 {
		c.Empty = "nothing to draw: the alert names no node and no timeouts were seen"
	}

	// The moments that tell the story.
	moment := func(t time.Time, label, class string) {
		if t.IsZero() || t.Before(from) || t.After(to) {
			return
		}
		c.Lines = append(c.Lines, Moment{X: x(t), Label: label + " " + clock.Time(t), Class: class})
	}
	if !a.Since.IsZero() && !a.Since.Equal(a.StartsAt) {
		moment(a.Since, "began", "m-since")
	}
	if reboot != nil && !rebootData.CauseTime.IsZero() {
		moment(rebootData.CauseTime, "kernel died", "m-crash")
	}
	moment(a.StartsAt, "alert fired", "m-fired")
	if reboot != nil {
		moment(reboot.Time, "cause known", "m-cause")
	}
	slices.SortFunc(c.Lines, func(p, q Moment) int { return cmp.Compare(p.X, q.X) })
	for i := range c.Lines { // stagger labels that would overlap
		c.Lines[i].LabelY = 12 + 11*(i%2)
	}

	step := niceStep(span)
	for t := from.Truncate(step).Add(step); t.Before(to); t = t.Add(step) {
		label := clock.Time(t)
		if step >= time.Minute {
			label = label[:5]
		}
		c.Ticks = append(c.Ticks, Tick{X: x(t), Label: label})
	}
	c.Legend = []LegendItem{{"hb", "heartbeat"}, {"reboot", "crash (reboot placed at its last heartbeat)"}, {"report", "reboot reported"},
		{"kernel", "kernel event"}, {"dns", "DNS timeouts"}, {"rpc", "RPC timeouts"}}
	c.Height = y + 8
	return c
}

func diamond(cx, cy, r float64, class, title string) Mark {
	return Mark{Shape: "diamond", Class: class, Opacity: 1, Title: title,
		Points: fmt.Sprintf("%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f", cx, cy-r, cx+r, cy, cx, cy+r, cx-r, cy)}
}

// niceStep is an axis step giving 6 to 12 ticks.
func niceStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{10 * time.Second, 30 * time.Second, time.Minute, 2 * time.Minute, 5 * time.Minute,
		10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour} {
		if span/s <= 12 {
			return s
		}
	}
	return 24 * time.Hour
}

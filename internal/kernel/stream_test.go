package kernel

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kmsg"
)

var t0 = time.Date(2020, 6, 14, 13, 14, 38, 0, time.UTC)

func at(sec float64, text string) kmsg.Line {
	return kmsg.Line{Time: t0.Add(time.Duration(sec * float64(time.Second))), Mono: -1, Text: text}
}

func TestStreamBoundaries(t *testing.T) {
	tests := []struct {
		name  string
		lines []kmsg.Line
		want  []string // type:summary-prefix
	}{
		{"unended report flushed by the timeout", []kmsg.Line{
			at(0, "INFO: task a:1 blocked for more than 120 seconds."),
			at(0, "Call Trace:"),
			at(30, "kernel BUG at mm/slub.c:1!"),
		}, []string{"kernel.hung_task:INFO: task a:1", "kernel.bug:kernel BUG"}},
		{"chatter does not hold a report open", []kmsg.Line{
			at(0, "INFO: task a:1 blocked for more than 120 seconds."),
			at(0, "Call Trace:"),
			at(0, " schedule+0x35/0x80"),
			at(4, "cni0: port 1(veth3b2c1d0e) entered disabled state"),
			at(8, "cni0: port 1(veth3b2c1d0e) entered forwarding state"),
			at(12, "device veth3b2c1d0e left promiscuous mode"),
			at(16, "IPv6: ADDRCONF(NETDEV_CHANGE): eno1: link becomes ready"),
			at(17, "nf_conntrack: table full, dropping packet"),
		}, []string{"kernel.hung_task:INFO: task a:1", "kernel.conntrack_full:"}},
		{"reboot ends a report", []kmsg.Line{
			at(0, "------------[ cut here ]------------"),
			at(0, "kernel BUG at /build/linux-x/linux-4.4.0/include/linux/fs.h:2582!"),
			{Reboot: true},
			at(20, "Initializing cgroup subsys cpuset"),
		}, []string{"kernel.bug:kernel BUG at include/linux/fs.h:2582!"}},
		{"since-boot time going back is a new boot", []kmsg.Line{
			{Mono: 500 * time.Second, Text: "INFO: rcu_sched self-detected stall on CPU"},
			{Mono: 1 * time.Second, Text: "Linux version 4.4.0-104-generic"},
			{Mono: 2 * time.Second, Text: "Call Trace:"},
		}, []string{"kernel.lockup:INFO: rcu_sched"}},
		{"user space writing to kmsg is ignored", []kmsg.Line{
			{Mono: -1, Facility: 1, Text: "Kernel panic - not syncing: from user space"},
			{Mono: -1, Facility: 3, Text: "kernel BUG at x.c:1!"},
		}, nil},
		{"end trace with nothing open", []kmsg.Line{at(0, "---[ end trace 0000000000000000 ]---")}, nil},
		{"warning without a class publishes nothing", []kmsg.Line{
			at(0, "------------[ cut here ]------------"),
			at(0, "WARNING: CPU: 1 PID: 2 at net/core/dev.c:100 foo+0x1/0x2"),
			at(0, "---[ end trace 1 ]---"),
		}, nil},
		{"panic ends the open report", []kmsg.Line{
			at(0, "NMI watchdog: BUG: soft lockup - CPU#2 stuck for 22s! [java:3011]"),
			at(1, "Kernel panic - not syncing: softlockup: hung tasks"),
		}, []string{"kernel.lockup:NMI watchdog", "kernel.panic:Kernel panic"}},
		{"lone Killed process is still an OOM", []kmsg.Line{
			at(0, "Killed process 17790 (java) total-vm:4926848kB, anon-rss:1041380kB, file-rss:6808kB"),
		}, []string{"kernel.oom:"}},
		{"single lines interleaved in a report stand alone", []kmsg.Line{
			at(0, "------------[ cut here ]------------"),
			at(0, "kernel BUG at mm/slub.c:1!"),
			at(0.5, "nf_conntrack: table full, dropping packet"),
			at(0.6, "---[ end trace 1 ]---"),
		}, []string{"kernel.bug:kernel BUG", "kernel.conntrack_full:nf_conntrack"}},
	}
	m := NewMatcher(DefaultPack(), Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, f := range m.Scan(tc.lines) {
				s := f.Type + ":"
				if kr, ok := f.Data.(*event.KernelReport); ok {
					s += kr.Summary
				}
				got = append(got, s)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tc.want[i]) {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
			}
		})
	}
}

func TestReportBounded(t *testing.T) {
	lines := []kmsg.Line{at(0, "java invoked oom-killer: gfp_mask=0x24201ca, order=0, oom_score_adj=0")}
	for i := range 5000 {
		lines = append(lines, at(0, fmt.Sprintf("[%5d]     0 %5d     9512      812      22       3        0             0 %s", i, i, strings.Repeat("x", 900))))
	}
	lines = append(lines, at(0, "Out of memory: Kill process 30311 (java) score 902 or sacrifice child"),
		at(0, "Killed process 30311 (java) total-vm:9595244kB, anon-rss:7204932kB, file-rss:0kB"))
	got := NewMatcher(DefaultPack(), Options{}).Scan(lines)
	if len(got) != 1 {
		t.Fatalf("got %d findings", len(got))
	}
	o := got[0].Data.(*event.OOM)
	if o.VictimPID != 30311 || o.Constraint != event.OOMGlobal {
		t.Fatalf("got %+v", o)
	}
	if n := len(o.Lines); n != headLines+tailLines+1 {
		t.Fatalf("kept %d lines", n)
	}
	if !strings.Contains(o.Lines[headLines], "lines omitted") || !strings.HasPrefix(o.Lines[len(o.Lines)-1], "Killed process") {
		t.Fatalf("omission marker or last line missing: %q / %q", o.Lines[headLines], o.Lines[len(o.Lines)-1])
	}
	ev, err := event.New(got[0].Type, "test", "c", "n", t0, o)
	if err != nil {
		t.Fatalf("a bounded report must fit an event: %v", err)
	}
	_ = ev
}

func TestStreamPendingAndTick(t *testing.T) {
	var got []Finding
	m := NewMatcher(DefaultPack(), Options{ReportTimeout: 5 * time.Second, RollupInterval: time.Minute})
	st := m.NewStream(func(f Finding) { got = append(got, f) })
	if _, ok := st.Pending(); ok {
		t.Fatal("pending before any line")
	}
	st.Feed(kmsg.Line{Seq: 41, Time: t0, Mono: time.Second, Text: "INFO: task a:1 blocked for more than 120 seconds."})
	st.Feed(kmsg.Line{Seq: 42, Time: t0, Mono: time.Second, Text: "Call Trace:"})
	if seq, ok := st.Pending(); !ok || seq != 41 {
		t.Fatalf("pending %d %v, want 41", seq, ok)
	}
	st.Tick(t0.Add(4 * time.Second))
	if len(got) != 0 {
		t.Fatal("flushed before the timeout")
	}
	st.Tick(t0.Add(6 * time.Second))
	if len(got) != 1 || got[0].Seq != 41 {
		t.Fatalf("got %+v", got)
	}
	if _, ok := st.Pending(); ok {
		t.Fatal("still pending after the flush")
	}
	// Rollups: first line at once, repeats when the interval has passed.
	for i := range 3 {
		st.Feed(kmsg.Line{Seq: uint64(50 + i), Time: t0.Add(time.Duration(10+i) * time.Second), Mono: -1, Text: "nf_conntrack: table full, dropping packet"})
	}
	if len(got) != 2 {
		t.Fatalf("got %d findings, want the first conntrack line at once", len(got))
	}
	st.Tick(t0.Add(69 * time.Second))
	if len(got) != 2 {
		t.Fatal("rollup emitted before its interval")
	}
	st.Tick(t0.Add(71 * time.Second))
	if len(got) != 3 {
		t.Fatalf("got %d findings, want the rollup", len(got))
	}
	kr := got[2].Data.(*event.KernelReport)
	if kr.Count != 2 || !kr.First.Equal(t0.Add(11*time.Second)) || !kr.Last.Equal(t0.Add(12*time.Second)) {
		t.Fatalf("rollup %+v", kr)
	}
	if s := st.Stats(); s.Findings != 3 || s.Rolled != 2 {
		t.Fatalf("stats %+v", s)
	}
}

package drills_test

import (
	"strings"
	"testing"
	"time"
)

// BenchmarkDrillReplay times the 2020-06 drill end to end: the nats CLI
// publishing the file, the router evaluating it, and every alert's final
// text reaching the fake Slack and WeCom drill receivers (their group
// interval, 1s, bounds the resolve notices). Each iteration runs on a
// fresh router. Reported: ms until the file is published, until the
// router has stored every alert, until the node-crash page is at the drill
// Slack, and until every alert's final text is at both drill receivers.
func BenchmarkDrillReplay(b *testing.B) {
	d := drills[0]
	var pub, stored, paged, delivered time.Duration
	n := 0
	for b.Loop() {
		b.StopTimer()
		s := newStand(b)
		b.StartTimer()
		start := time.Now()
		s.replay(d)
		pub += time.Since(start)
		s.caughtUp()
		stored += time.Since(start)
		for {
			if text, _ := slackText(s.drillSlack); strings.Contains(text, "node 172.21.128.138 crashed") {
				break
			}
			if time.Since(start) > 30*time.Second {
				b.Fatal("no node-crash page")
			}
			time.Sleep(time.Millisecond)
		}
		paged += time.Since(start)
		s.delivered(d)
		delivered += time.Since(start)
		n++
	}
	b.ReportMetric(float64(pub.Milliseconds())/float64(n), "ms-publish")
	b.ReportMetric(float64(stored.Milliseconds())/float64(n), "ms-alerts-stored")
	b.ReportMetric(float64(paged.Milliseconds())/float64(n), "ms-paged")
	b.ReportMetric(float64(delivered.Milliseconds())/float64(n), "ms-delivered")
}

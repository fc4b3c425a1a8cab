package correlate

import (
	"fmt"
	"testing"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/ratiobench"
	"github.com/aftershock/aftershock/internal/rule"
)

// BenchmarkEngineThresholds: the rules and events of `task bench:ratio`
// (the shipped pack and n generated rules, n/20 per app type, each
// `event.type == "app.tK" && event.data.value > C` over a window that
// never fires) through the engine alone, from decoded events.
func BenchmarkEngineThresholds(b *testing.B) {
	for _, n := range []int{100, 1000} {
		dir := b.TempDir()
		if err := ratiobench.WritePack("../../rules", dir, n); err != nil {
			b.Fatal(err)
		}
		set, err := rule.LoadDir(dir, rule.CheckOptions{})
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("rules=%d", n), func(b *testing.B) {
			e := New(set, quiet(), Options{})
			evs := make([]*event.Event, 100_000)
			for i := range evs {
				m, err := ratiobench.Backlog(ratiobench.App, i, len(evs), t0)
				if err != nil {
					b.Fatal(err)
				}
				if evs[i], err = event.Decode(m.Data); err != nil {
					b.Fatal(err)
				}
			}
			run(b, e, evs)
		})
	}
}

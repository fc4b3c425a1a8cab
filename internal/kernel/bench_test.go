package kernel

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/kmsg"
)

// benchCorpus is a node's kernel log: ordinary chatter (the negative
// fixtures) with every positive fixture's report mixed in, about one
// report line in 20, rendered in format f with increasing timestamps.
func benchCorpus(b *testing.B, f kmsg.Format, lines int) []byte {
	b.Helper()
	var chatter, reports []string
	files, _ := filepath.Glob("testdata/*")
	for _, name := range files {
		if st, err := os.Stat(name); err != nil || st.IsDir() {
			continue
		}
		for _, l := range readFixture(b, filepath.Base(name)) {
			if l.Reboot || l.Text == "" {
				continue
			}
			if strings.HasPrefix(filepath.Base(name), "negative") {
				chatter = append(chatter, l.Text)
			} else {
				reports = append(reports, l.Text)
			}
		}
	}
	var buf bytes.Buffer
	t0 := time.Date(2020, 6, 14, 0, 0, 0, 0, time.UTC)
	ci, ri := 0, 0
	for i := range lines {
		var text string
		if i%20 == 19 {
			text = reports[ri%len(reports)]
			ri++
		} else {
			text = chatter[ci%len(chatter)]
			ci++
		}
		mono := time.Duration(i) * 10 * time.Millisecond
		switch f {
		case kmsg.FormatKmsg:
			fmt.Fprintf(&buf, "6,%d,%d,-;%s\n", i+1, mono.Microseconds(), strings.ReplaceAll(text, "\t", `\x09`))
		case kmsg.FormatJournal:
			fmt.Fprintf(&buf, "%s host-172-21-128-138 kernel: %s\n", t0.Add(mono).Format(time.StampMicro), text)
		default:
			fmt.Fprintf(&buf, "[%12.6f] %s\n", mono.Seconds(), text)
		}
	}
	return buf.Bytes()
}

// BenchmarkScan is `collector scan` without the JSON output: read, parse,
// classify. Reported as lines/s on one goroutine.
func BenchmarkScan(b *testing.B) {
	const n = 200_000
	m := NewMatcher(DefaultPack(), Options{})
	for _, f := range []kmsg.Format{kmsg.FormatDmesg, kmsg.FormatJournal, kmsg.FormatKmsg} {
		b.Run(string(f), func(b *testing.B) {
			corpus := benchCorpus(b, f, n)
			b.SetBytes(int64(len(corpus)))
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime(b)
			found := 0
			for range b.N {
				st := m.NewStream(func(Finding) { found++ })
				sc := kmsg.NewScanner(bytes.NewReader(corpus), kmsg.Options{Format: f, Year: 2020, Location: time.UTC})
				for sc.Scan() {
					st.Feed(sc.Line())
				}
				st.Flush()
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "lines/s")
			b.ReportMetric(float64(n*b.N)/(cpuTime(b)-cpu0).Seconds(), "lines/cpu-s")
			if found == 0 {
				b.Fatal("nothing found")
			}
		})
	}
}

// BenchmarkMatch is the matcher alone over parsed lines.
func BenchmarkMatch(b *testing.B) {
	const n = 200_000
	sc := kmsg.NewScanner(bytes.NewReader(benchCorpus(b, kmsg.FormatDmesg, n)), kmsg.Options{Format: kmsg.FormatDmesg})
	var lines []kmsg.Line
	for sc.Scan() {
		lines = append(lines, sc.Line())
	}
	m := NewMatcher(DefaultPack(), Options{})
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime(b)
	for range b.N {
		st := m.NewStream(func(Finding) {})
		for i := range lines {
			st.Feed(lines[i])
		}
		st.Flush()
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "lines/s")
	b.ReportMetric(float64(n*b.N)/(cpuTime(b)-cpu0).Seconds(), "lines/cpu-s")
}

// cpuTime is the process's user+system CPU time: on a shared machine,
// lines per CPU second says more about the code than lines per wall second.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

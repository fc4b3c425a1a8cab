package posture

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"

	"github.com/aftershock/aftershock/internal/event"
)

// Meminfo reads the /proc/meminfo fields kernel events carry. In the
// 2020-06 incident, "OOM" with 80% page cache and ample free memory was the
// clue that the cause was not memory.
func (h Host) Meminfo() (*event.Meminfo, error) {
	b, err := os.ReadFile(h.Path("/proc/meminfo"))
	if err != nil {
		return nil, fmt.Errorf("read meminfo: %w", err)
	}
	return ParseMeminfo(b)
}

// ParseMeminfo parses /proc/meminfo ("MemTotal:       16318412 kB").
// MemTotal is required; missing optional fields stay zero (MemAvailable
// appeared in 3.14).
func ParseMeminfo(b []byte) (*event.Meminfo, error) {
	m := &event.Meminfo{}
	fields := map[string]*int64{
		"MemTotal": &m.MemTotalKB, "MemFree": &m.MemFreeKB, "MemAvailable": &m.MemAvailableKB,
		"Cached": &m.CachedKB, "Buffers": &m.BuffersKB, "SwapFree": &m.SwapFreeKB,
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		name, rest, ok := bytes.Cut(sc.Bytes(), []byte(":"))
		if !ok {
			continue
		}
		dst, ok := fields[string(name)]
		if !ok {
			continue
		}
		num, _, _ := bytes.Cut(bytes.TrimSpace(rest), []byte(" "))
		v, err := strconv.ParseInt(string(num), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("parse meminfo %s: %q: %w", name, rest, err)
		}
		*dst = v
	}
	if m.MemTotalKB == 0 {
		return nil, fmt.Errorf("parse meminfo: no MemTotal")
	}
	return m, nil
}

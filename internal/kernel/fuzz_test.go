package kernel

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kmsg"
)

// FuzzMatcher: any log, in any format, gives findings that make valid
// events of their declared type (within the 64 KiB limit).
func FuzzMatcher(f *testing.F) {
	files, _ := filepath.Glob("testdata/*")
	for _, name := range files {
		if st, err := os.Stat(name); err != nil || st.IsDir() {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	m := NewMatcher(DefaultPack(), Options{})
	f.Fuzz(func(t *testing.T, s string) {
		sc := kmsg.NewScanner(strings.NewReader(s), kmsg.Options{Year: 2020, Location: time.UTC})
		var lines []kmsg.Line
		for sc.Scan() {
			lines = append(lines, sc.Line())
		}
		for _, fd := range m.Scan(lines) {
			if !strings.HasPrefix(fd.Type, "kernel.") {
				t.Fatalf("type %q", fd.Type)
			}
			_, isOOM := fd.Data.(*event.OOM)
			if isOOM != (fd.Type == event.TypeKernelOOM) {
				t.Fatalf("%s with data %T", fd.Type, fd.Data)
			}
			if _, err := event.New(fd.Type, "fuzz", "c", "n", time.Unix(1, 0), fd.Data); err != nil {
				t.Fatalf("%s: %v", fd.Type, err)
			}
		}
	})
}

package kernel

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/kmsg"
)

func TestScanFiles(t *testing.T) {
	files := []string{
		filepath.Join("testdata", "k44-incident.journal"),
		filepath.Join("testdata", "k515-oom-memcg-systemd.kmsg"),
		filepath.Join("testdata", "missing.dmesg"),
		"-",
	}
	stdin := strings.NewReader("[ 9921.001822] EXT4-fs error (device vdb1): ext4_find_entry:1450: inode #2: comm kubelet: reading directory lblock 0\n")
	var out bytes.Buffer
	st, err := ScanFiles(context.Background(), &out, stdin, files, ScanOptions{
		Log:     kmsg.Options{Year: 2020, Location: time.FixedZone("CST", 8*3600)},
		Cluster: "prod", Node: "172.21.128.138",
	})
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "missing.dmesg") {
		t.Fatalf("err = %v, want the missing file named", err)
	}
	if st.Files != 3 || st.Events != 3 {
		t.Fatalf("stats %+v", st)
	}
	var types []string
	for line := range strings.Lines(out.String()) {
		ev, err := event.Decode([]byte(line))
		if err != nil {
			t.Fatalf("printed event does not decode: %v\n%s", err, line)
		}
		if ev.Node != "172.21.128.138" || ev.Cluster != "prod" {
			t.Fatalf("envelope %+v", ev)
		}
		types = append(types, ev.Type)
		if ev.Type == event.TypeKernelBug && !ev.Time.Equal(time.Date(2020, 6, 14, 5, 14, 38, 0, time.UTC)) {
			t.Fatalf("kernel.bug at %v, want the journal's 13:14:38 CST", ev.Time)
		}
	}
	want := []string{event.TypeKernelBug, event.TypeKernelOOM, event.TypeKernelFSError}
	if strings.Join(types, ",") != strings.Join(want, ",") {
		t.Fatalf("types %v, want %v", types, want)
	}
}

func TestScanFilesCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var out bytes.Buffer
	_, err := ScanFiles(ctx, &out, nil, []string{"testdata/k44-gpf.dmesg"}, ScanOptions{Cluster: "c", Node: "n"})
	if !errors.Is(err, context.Canceled) || out.Len() != 0 {
		t.Fatalf("err %v, output %q", err, out.String())
	}
}

func TestScanLog(t *testing.T) {
	f, err := os.Open("testdata/k44-incident.journal")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, st, err := NewMatcher(DefaultPack(), Options{}).ScanLog(f, kmsg.Options{Year: 2020, Location: time.UTC})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Type != event.TypeKernelBug || st.Lines != 25 {
		t.Fatalf("got %d findings, stats %+v", len(got), st)
	}
	if kr := got[0].Data.(*event.KernelReport); kr.File != "include/linux/fs.h" || kr.Line != 2582 {
		t.Fatalf("got %+v", kr)
	}
}

package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
)

// The committed files are exactly what the generator writes: edit the
// generator, run it, commit both.
func TestFilesUpToDate(t *testing.T) {
	if err := run("..", true); err != nil {
		t.Fatal(err)
	}
}

func TestGeneratorIsDeterministic(t *testing.T) {
	for i, r := range recordings() {
		a, err := r.ndjson()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := recordings()[i].ndjson()
		if !bytes.Equal(a, b) {
			t.Fatalf("%s: two runs differ", r.dir)
		}
	}
}

// Every line is a valid event of the drill's one cluster, ids are unique,
// lines are in time order, and files stay small.
func TestFilesValid(t *testing.T) {
	for _, r := range recordings() {
		t.Run(r.dir, func(t *testing.T) {
			path := filepath.Join("..", r.dir, File)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if st, _ := f.Stat(); st.Size() > 512<<10 {
				t.Errorf("%s is %d bytes: keep drills small", path, st.Size())
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(nil, event.MaxSize)
			ids := map[string]bool{}
			var last time.Time
			n := 0
			for sc.Scan() {
				n++
				ev, err := event.Decode(sc.Bytes())
				if err != nil {
					t.Fatalf("line %d: %v", n, err)
				}
				if ev.Cluster != r.cluster {
					t.Errorf("line %d: cluster %q, want %q", n, ev.Cluster, r.cluster)
				}
				if want := fmt.Sprintf("%s-%05d", r.prefix, n); ev.ID != want {
					t.Errorf("line %d: id %q, want %q", n, ev.ID, want)
				}
				if ids[ev.ID] {
					t.Errorf("line %d: duplicate id %s", n, ev.ID)
				}
				ids[ev.ID] = true
				if ev.Time.Before(last) {
					t.Errorf("line %d: time %s before the previous line's %s", n, ev.Time, last)
				}
				last = ev.Time
			}
			if err := sc.Err(); err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Fatal("empty drill")
			}
		})
	}
}

func TestCheckReportsDrift(t *testing.T) {
	dir := t.TempDir()
	if err := run(dir, false); err != nil { // prints what it wrote
		t.Fatal(err)
	}
	path := filepath.Join(dir, "node-silent", File)
	b, _ := os.ReadFile(path)
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := run(dir, true); err == nil {
		t.Fatal("a changed file passed the check")
	}
}

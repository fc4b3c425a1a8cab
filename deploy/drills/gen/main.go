// Command gen writes the recorded incidents under deploy/drills: one
// CloudEvent per line, in stored order, with deterministic ids and times,
// so the files, their READMEs and the drill tests never drift apart.
//
//	go run ./deploy/drills/gen            # rewrite deploy/drills/*/events.ndjson
//	go run ./deploy/drills/gen -check     # exit 1 if a file differs
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", "deploy/drills", "drills directory")
	check := flag.Bool("check", false, "compare with the files instead of writing them")
	flag.Parse()
	if err := run(*dir, *check); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

// recordings are the drills, one directory each.
func recordings() []*recording {
	return []*recording{incident202006(), conntrackFull(), memcgOOMStorm(), nodeSilent(), lateReboot(), kernelExposure(), corednsPodTimeout(), oomPanic(), diskFailing(), corednsOOM()}
}

// File is the events file of every drill directory.
const File = "events.ndjson"

func run(dir string, check bool) error {
	for _, r := range recordings() {
		b, err := r.ndjson()
		if err != nil {
			return err
		}
		path := filepath.Join(dir, r.dir, File)
		if check {
			have, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if !bytes.Equal(have, b) {
				return fmt.Errorf("%s differs from what the generator writes: run go run ./deploy/drills/gen", path)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		fmt.Printf("%s: %d events, %d bytes\n", path, len(r.events), len(b))
	}
	return nil
}

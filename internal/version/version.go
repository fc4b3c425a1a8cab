// Package version says which build is running: the module version, the
// VCS commit and time the go command stamped into the binary, and the Go
// version. Nothing is set by hand or by -ldflags: debug.ReadBuildInfo
// has it all for a binary built from a git checkout.
package version

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

// Info describes the running binary.
type Info struct {
	// Version is the main module's version: a tag (v1.2.3), a pseudo
	// version for an untagged commit, or "(devel)".
	Version string `json:"version"`
	// Revision is the VCS commit, with "-dirty" when the tree had changes.
	Revision string `json:"revision"`
	// Time is the commit's time (RFC 3339), if known.
	Time      string `json:"time,omitempty"`
	GoVersion string `json:"go_version"`
	Platform  string `json:"platform"`
}

// Get reads the build information of the running binary.
func Get() Info {
	in := Info{Version: "(devel)", Revision: "unknown", GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return in
	}
	if v := bi.Main.Version; v != "" {
		in.Version = v
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			in.Revision = s.Value
		case "vcs.time":
			in.Time = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && in.Revision != "unknown" {
		in.Revision += "-dirty"
	}
	return in
}

// Print writes the information for `router version`, one line each.
func (in Info) Print(w io.Writer, name string) error {
	commit := in.Revision
	if in.Time != "" {
		commit += " (" + in.Time + ")"
	}
	_, err := fmt.Fprintf(w, "%s %s\ncommit: %s\ngo:     %s %s\n", name, in.Version, commit, in.GoVersion, in.Platform)
	return err
}

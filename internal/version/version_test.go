package version_test

import (
	"bytes"
	"runtime"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/version"
)

func TestPrint(t *testing.T) {
	in := version.Info{Version: "v1.2.3", Revision: "abc123-dirty", Time: "2026-03-01T10:00:00Z", GoVersion: "go1.26.8", Platform: "linux/amd64"}
	var b bytes.Buffer
	if err := in.Print(&b, "router"); err != nil {
		t.Fatal(err)
	}
	want := "router v1.2.3\ncommit: abc123-dirty (2026-03-01T10:00:00Z)\ngo:     go1.26.8 linux/amd64\n"
	if b.String() != want {
		t.Errorf("got\n%s\nwant\n%s", b.String(), want)
	}
}

// TestGet: a test binary has build info, so Get reports this Go.
func TestGet(t *testing.T) {
	in := version.Get()
	if in.GoVersion != runtime.Version() || in.Version == "" || in.Revision == "" || !strings.Contains(in.Platform, "/") {
		t.Errorf("Get() = %+v", in)
	}
}

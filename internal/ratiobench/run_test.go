package ratiobench

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestRunMakesProfileDir: the profile directory is made before any run, so
// a missing one does not fail the task after its measurements.
func TestRunMakesProfileDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "prof", "today")
	if err := Run(context.Background(), Options{Profile: dir, Out: io.Discard}); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("profile directory: %v", err)
	}
}

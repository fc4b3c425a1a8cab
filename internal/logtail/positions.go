package logtail

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/aftershock/aftershock/internal/atomicfile"
)

// savedPos is one file's committed position. Fingerprint is the file's
// first bytes (up to the offset), checked before resuming.
type savedPos struct {
	Path        string `json:"path"`
	Dev         uint64 `json:"dev"`
	Ino         uint64 `json:"ino"`
	Offset      int64  `json:"offset"`
	Fingerprint []byte `json:"fingerprint"`
}

type positionsFile struct {
	Version int        `json:"version"`
	Files   []savedPos `json:"files"`
}

func loadPositions(path string) ([]savedPos, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("log positions: %w", err)
	}
	var pf positionsFile
	if err := json.Unmarshal(b, &pf); err != nil {
		return nil, fmt.Errorf("log positions %s: %w (delete it to read files anew)", path, err)
	}
	if pf.Version != 1 {
		return nil, fmt.Errorf("log positions %s: version %d, want 1", path, pf.Version)
	}
	return pf.Files, nil
}

// savePositions writes atomically (package atomicfile), so a crash leaves
// the old or the new positions, never a torn file.
func savePositions(path string, ps []savedPos) error {
	b, err := json.Marshal(positionsFile{Version: 1, Files: ps})
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("log positions dir: %w", err)
	}
	if err := atomicfile.Write(path, b, 0o600); err != nil {
		return fmt.Errorf("log positions: %w", err)
	}
	return nil
}

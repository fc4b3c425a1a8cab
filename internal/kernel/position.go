package kernel

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aftershock/aftershock/internal/atomicfile"
)

// position is where the watcher is in the kernel ring buffer: the last
// sequence number it handled in a boot. A restart in the same boot skips
// what it handled; a new boot starts from the beginning.
type position struct {
	BootID string `json:"boot_id"`
	Seq    uint64 `json:"seq"`
}

const positionFile = "kmsg-position.json"

// loadPosition reads the saved position; a missing file is the zero
// position, a corrupt one an error the caller logs before starting over.
func loadPosition(dir string) (position, error) {
	var p position
	b, err := os.ReadFile(filepath.Join(dir, positionFile))
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil
	}
	if err != nil {
		return p, fmt.Errorf("read kmsg position: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return position{}, fmt.Errorf("kmsg position %s: %w", filepath.Join(dir, positionFile), err)
	}
	return p, nil
}

// save writes the position atomically (package atomicfile), so a crash
// leaves either the old or the new position.
func (p position) save(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save kmsg position: %w", err)
	}
	b, _ := json.Marshal(p)
	if err := atomicfile.Write(filepath.Join(dir, positionFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save kmsg position: %w", err)
	}
	return nil
}

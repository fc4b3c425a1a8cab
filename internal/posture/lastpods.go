package posture

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/aftershock/aftershock/internal/event"
)

// lastPodsFile keeps the pods of the last posture the collector published,
// so the next boot's node.reboot can say what ran on the node when it died
// (and where: their IPs), after the node's new posture has replaced them.
const lastPodsFile = "last-pods.json"

// maxRebootPodBytes bounds the pods a node.reboot carries (about 150): it
// also carries the previous boot's last words, within 64 KiB.
const maxRebootPodBytes = 16 << 10

type lastPods struct {
	BootID string         `json:"boot_id"`
	Pods   []event.PodRef `json:"pods"`
}

// SavePods records the pods of the posture just published, for bootID;
// written to a temporary file and renamed, so a crash leaves the old or the
// new list, never half of one.
func SavePods(dir, bootID string, pods []event.PodRef) error {
	b, err := json.Marshal(lastPods{BootID: bootID, Pods: pods})
	if err != nil {
		return fmt.Errorf("save last pods: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("save last pods: %w", err)
	}
	f, err := os.CreateTemp(dir, lastPodsFile+".*")
	if err != nil {
		return fmt.Errorf("save last pods: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("save last pods: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("save last pods: %w", err)
	}
	if err := os.Rename(f.Name(), filepath.Join(dir, lastPodsFile)); err != nil {
		return fmt.Errorf("save last pods: %w", err)
	}
	return nil
}

// LoadPods returns the pods last saved in boot bootID (bounded for a
// node.reboot); none, without error, when there is no file or it is of
// another boot.
func LoadPods(dir, bootID string) ([]event.PodRef, error) {
	b, err := os.ReadFile(filepath.Join(dir, lastPodsFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load last pods: %w", err)
	}
	var lp lastPods
	if err := json.Unmarshal(b, &lp); err != nil {
		return nil, fmt.Errorf("load last pods: %s: %w", filepath.Join(dir, lastPodsFile), err)
	}
	if lp.BootID != bootID {
		return nil, nil
	}
	pods, _ := boundTo(lp.Pods, maxRebootPodBytes)
	return pods, nil
}

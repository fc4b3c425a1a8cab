//go:build unix

package embedded

import (
	"errors"
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/bus"
)

func TestStateDirHeldByOneServer(t *testing.T) {
	lockWait = 200 * time.Millisecond
	dir := t.TempDir()
	s, err := Start(bus.EmbeddedOptions{StateDir: dir, Port: -1}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	if s2, err := Start(bus.EmbeddedOptions{StateDir: dir, Port: -1}, nil); !errors.Is(err, ErrStateDirInUse) {
		if s2 != nil {
			s2.Shutdown()
		}
		t.Fatalf("second server on one store: err %v, want ErrStateDirInUse", err)
	}
	s.Shutdown()
	s.WaitForShutdown()
	// Restarting on the same store right after a shutdown works: the
	// release races the restart, which waits for it.
	s3, err := Start(bus.EmbeddedOptions{StateDir: dir, Port: -1}, nil)
	if err != nil {
		t.Fatalf("restart after shutdown: %v", err)
	}
	s3.Shutdown()
	s3.WaitForShutdown()
}

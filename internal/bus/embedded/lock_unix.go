//go:build unix

package embedded

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// lockWait covers a server of this process that is shutting down on the
// same store: its lock is released right after WaitForShutdown returns.
var lockWait = 3 * time.Second

// lockStateDir takes an exclusive advisory lock on dir, held until the
// returned release is called: two servers on one store (a second router,
// or `router backtest` while the router runs) would corrupt it.
func lockStateDir(dir string) (release func(), err error) {
	path := filepath.Join(dir, "aftershock.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("embedded nats: lock state dir: %w", err)
	}
	deadline := time.Now().Add(lockWait)
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				_ = f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			_ = f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, fmt.Errorf("%w: %s (is a router running on it? connect to its NATS instead)", ErrStateDirInUse, dir)
			}
			return nil, fmt.Errorf("embedded nats: lock state dir: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

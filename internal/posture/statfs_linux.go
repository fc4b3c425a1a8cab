package posture

import (
	"fmt"
	"syscall"
)

// freeMB is the space available to unprivileged writers under path, in MB.
func freeMB(path string) (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		return 0, fmt.Errorf("statfs: %w", err)
	}
	return int64(st.Bavail) * st.Bsize >> 20, nil
}

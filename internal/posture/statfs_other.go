//go:build !linux

package posture

import "errors"

// freeMB is only implemented on Linux, where the collector runs.
func freeMB(string) (int64, error) {
	return 0, errors.New("free space: not supported on this platform")
}

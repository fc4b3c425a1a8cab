package kernel

import "strings"

// Top-level directories of a kernel source tree, where a BUG or WARNING
// site can be.
var kernelTopDirs = map[string]bool{
	"arch": true, "block": true, "certs": true, "crypto": true, "drivers": true, "fs": true,
	"include": true, "init": true, "io_uring": true, "ipc": true, "kernel": true, "lib": true,
	"mm": true, "net": true, "rust": true, "security": true, "sound": true, "virt": true,
}

// stripBuildPrefix turns a path the kernel was built with into a source
// tree path: /build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h becomes
// include/linux/fs.h. Relative paths (newer kernels) are kept.
func stripBuildPrefix(p string) string {
	if !strings.HasPrefix(p, "/") {
		return p
	}
	parts := strings.Split(p[1:], "/")
	// A linux or linux-<version> directory followed by a top-level
	// directory is the tree root.
	for i := 0; i+2 < len(parts); i++ {
		name := parts[i]
		if (name == "linux" || strings.HasPrefix(name, "linux-") && len(name) > 6 && name[6] >= '0' && name[6] <= '9') && kernelTopDirs[parts[i+1]] {
			return strings.Join(parts[i+1:], "/")
		}
	}
	for i := 0; i+1 < len(parts); i++ {
		if kernelTopDirs[parts[i]] {
			return strings.Join(parts[i:], "/")
		}
	}
	return p
}

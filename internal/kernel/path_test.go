package kernel

import "testing"

func TestStripBuildPrefix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/build/linux-SwhOyu/linux-4.4.0/include/linux/fs.h", "include/linux/fs.h"},
		{"/builddir/build/BUILD/kernel-3.10.0-957.el7/linux-3.10.0-957.el7.x86_64/fs/xfs/xfs_aops.c", "fs/xfs/xfs_aops.c"},
		{"/home/kernel/linux/mm/slub.c", "mm/slub.c"},
		{"/build/linux-hwe-5.4-Gx1Tqz/linux-hwe-5.4-5.4.0/drivers/net/ethernet/intel/ixgbe/ixgbe_main.c", "drivers/net/ethernet/intel/ixgbe/ixgbe_main.c"},
		{"mm/slub.c", "mm/slub.c"},
		{"/weird/place/file.c", "/weird/place/file.c"},
	}
	for _, tc := range tests {
		if got := stripBuildPrefix(tc.in); got != tc.want {
			t.Errorf("stripBuildPrefix(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

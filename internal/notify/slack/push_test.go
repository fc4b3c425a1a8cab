package slack

import "testing"

func TestPushText(t *testing.T) {
	for _, tc := range []struct {
		name, title string
		notes       []string
		want        string
	}{
		{"the title names the cause found",
			"🔄 UPDATE · CRITICAL · node 10.7.0.5 crashed: java invoked oom-killer; global OOM (panic_on_oom); 85 DNS/RPC timeouts on 7 nodes",
			[]string{"cause found: 10.7.0.5: java invoked oom-killer; global OOM (panic_on_oom)"},
			"🔄 UPDATE · CRITICAL · node 10.7.0.5 crashed: java invoked oom-killer; global OOM (panic_on_oom); 85 DNS/RPC timeouts on 7 nodes"},
		{"the title says it in other order; no '.:'",
			"🔄 UPDATE · WARNING · filesystem on 10.9.0.12 stopped taking writes: XFS (nvme1n1p1): Filesystem has been shut down due to log error (0x2).",
			[]string{"the filesystem stopped taking writes"},
			"🔄 UPDATE · WARNING · filesystem on 10.9.0.12 stopped taking writes: XFS (nvme1n1p1): Filesystem has been shut down due to log error (0x2)."},
		{"news the title lacks is kept, after a title without its period",
			"🔄 UPDATE · CRITICAL · node 10.2.0.29 crashed: kernel BUG at include/linux/fs.h:2582! (not OOM); 467 DNS/RPC timeouts on 12 nodes.",
			[]string{"cause found: 10.2.0.29: kernel BUG at include/linux/fs.h:2582!, not memory exhaustion (81% available)", "crashed or silent nodes now: 10.2.0.29, 10.2.0.30"},
			"🔄 UPDATE · CRITICAL · node 10.2.0.29 crashed: kernel BUG at include/linux/fs.h:2582! (not OOM); 467 DNS/RPC timeouts on 12 nodes: cause found: 10.2.0.29: kernel BUG at include/linux/fs.h:2582!, not memory exhaustion (81% available); crashed or silent nodes now: 10.2.0.29, 10.2.0.30"},
		{"a long label is not stripped",
			"🔄 UPDATE · WARNING · node n1 down",
			[]string{"nodes that went silent in the last minute: n1"},
			"🔄 UPDATE · WARNING · node n1 down: nodes that went silent in the last minute: n1"},
		{"no notes", "🔥 CRITICAL · x", nil, "🔥 CRITICAL · x"},
	} {
		if got := pushText(tc.title, tc.notes); got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, got, tc.want)
		}
	}
}

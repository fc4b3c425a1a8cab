package posture

import "testing"

func TestKubeCgroup(t *testing.T) {
	const uid = "4c9f3a7e-ae21-11ea-9c49-5254006f7a1b"
	const cid = "2fa0c9d4ab53b6e1a48e1e3cd5b27cd0b96fe49e0d8d4dc1cd83d3d5e2a53f61"
	tests := []struct{ name, path, uid, cid string }{
		{"v1 burstable", "/kubepods/burstable/pod" + uid + "/" + cid, uid, cid},
		{"v1 guaranteed", "/kubepods/pod" + uid + "/" + cid, uid, cid},
		{"v1 pod only", "/kubepods/besteffort/pod" + uid, uid, ""},
		{"systemd containerd", "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod4c9f3a7e_ae21_11ea_9c49_5254006f7a1b.slice/cri-containerd-" + cid + ".scope", uid, cid},
		{"systemd docker guaranteed", "/kubepods.slice/kubepods-pod4c9f3a7e_ae21_11ea_9c49_5254006f7a1b.slice/docker-" + cid + ".scope", uid, cid},
		{"systemd crio", "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod4c9f3a7e_ae21_11ea_9c49_5254006f7a1b.slice/crio-" + cid + ".scope", uid, cid},
		{"not kubernetes", "/system.slice/docker.service", "", ""},
		{"user slice", "/user.slice/user-1000.slice/session-3.scope", "", ""},
		{"bad uid", "/kubepods/burstable/podnotauid/" + cid, "", ""},
		{"bad container", "/kubepods/burstable/pod" + uid + "/xyz", uid, ""},
		{"empty", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u, c := KubeCgroup(tc.path)
			if u != tc.uid || c != tc.cid {
				t.Fatalf("got %q %q, want %q %q", u, c, tc.uid, tc.cid)
			}
		})
	}
}

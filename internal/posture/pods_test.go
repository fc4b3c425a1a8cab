package posture_test

import (
	"testing"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/posture"
)

func TestPodByUID(t *testing.T) {
	const (
		uid  = "4c9f3a7e-ae21-11ea-9c49-5254006f7a1b"
		cid  = "2fa0c9d4ab53b6e1a48e1e3cd5b27cd0b96fe49e0d8d4dc1cd83d3d5e2a53f61"
		uid2 = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
	)
	root := tree(t, map[string]string{
		"var/log/pods/shop_checkout-7d9f8c6b5-x2x4z_" + uid + "/app/0.log": "",
		"var/log/pods/default_web-0_" + uid2 + "/":                         "",
		"var/log/pods/a_b_c_" + uid + "/":                                  "",
		// The kubelet's links: pod_namespace_container-id.log.
		"var/log/containers/checkout-7d9f8c6b5-x2x4z_shop_istio-proxy-0000000000000000000000000000000000000000000000000000000000000000.log": "",
		"var/log/containers/checkout-7d9f8c6b5-x2x4z_shop_app-" + cid + ".log":                                                              "",
	})
	h := posture.Host{Root: root}
	shop := event.PodRef{Namespace: "shop", Name: "checkout-7d9f8c6b5-x2x4z", UID: uid}
	tests := []struct {
		name, uid, cid string
		pod            event.PodRef
		container      string
		ok             bool
	}{
		{"pod and container", uid, cid, shop, "app", true},
		{"pod only", uid, "", shop, "", true},
		{"container without a link", uid, "ffffffffffffffff", shop, "", true},
		{"pod without containers dir entry", uid2, cid, event.PodRef{Namespace: "default", Name: "web-0", UID: uid2}, "", true},
		{"gone pod", "99999999-0000-4000-8000-000000000000", cid, event.PodRef{}, "", false},
		{"no uid", "", cid, event.PodRef{}, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pod, ctr, ok := h.Pod(tc.uid, tc.cid)
			if pod.Namespace != tc.pod.Namespace || pod.Name != tc.pod.Name || pod.UID != tc.pod.UID || ctr != tc.container || ok != tc.ok {
				t.Fatalf("got %+v %q %v, want %+v %q %v", pod, ctr, ok, tc.pod, tc.container, tc.ok)
			}
		})
	}
	if _, _, ok := (posture.Host{Root: t.TempDir()}).Pod(uid, cid); ok {
		t.Fatal("no /var/log/pods: found a pod")
	}
}

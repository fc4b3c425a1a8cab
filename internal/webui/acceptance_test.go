package webui_test

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aftershock/aftershock/internal/browsertest"
	"github.com/aftershock/aftershock/internal/bus/bustest"
	"github.com/aftershock/aftershock/internal/webauth"
)

var updateScreenshots = flag.Bool("update-screenshots", false, "write the pages' screenshots to docs/ui/")

// TestIncidentAcceptance is issue 14's acceptance on replayed crash
// drills, in one test: the page of the late-reboot drill's node-crash
// alert shows the timeline and the cause in Chromium; amtool alert query
// lists the alert; a silence added with amtool mutes a follow-up alert
// (another node's crash in the 2020-06 drill: the API says silenced, the
// console never prints it) and `router silence list` shows the silence.
func TestIncidentAcceptance(t *testing.T) {
	browsertest.Chromium(t) // skips, saying why, without a browser
	s := newStand(t, webauth.Options{Token: "acceptance-token"})
	s.replay("late-reboot", "prod-gz", 0, "")
	fp := s.crashFingerprint("10.2.0.29")

	dom := browsertest.DOM(t, s.base+"/alerts/"+fp)
	for _, want := range []string{"<svg", "10.2.0.29 heartbeats", `class="mark reboot"`, "cause known 03:14:07", "kernel died 03:10:04",
		`id="cause">node 10.2.0.29 crashed (kernel BUG at include/linux/fs.h:2582!), not memory exhaustion`} {
		if !strings.Contains(dom, want) {
			t.Errorf("Chromium's DOM of the alert page lacks %q", want)
		}
	}
	screenshot(t, s, "alert.png", "/alerts/"+fp, 2300)
	screenshot(t, s, "alerts.png", "/alerts", 900)

	if out := s.amtool("alert", "query", "alertname=node-crash"); !strings.Contains(out, "node 10.2.0.29 crashed") {
		t.Fatalf("amtool alert query lacks the crash:\n%s", out)
	}
	id := strings.TrimSpace(s.amtool("silence", "add", "--author", "oncall", "--comment", "maintenance of .124", "--duration", "1h", `node="172.21.128.124"`))
	if list := s.routerCLI("silence", "list"); !strings.Contains(list, id) || !strings.Contains(list, "maintenance of .124") {
		t.Fatalf("router silence list lacks %s:\n%s", id, list)
	}
	screenshot(t, s, "silences.png", "/silences", 700)
	bustest.Eventually(t, "the router watched the silence", func() bool {
		return strings.Contains(metrics(t, s.r), "\naftershock_silences 1\n")
	})
	s.replay("2020-06-fs-h-2582", "tke-prod", 0, "2020-06-16")
	bustest.Eventually(t, "the follow-up alert of .124 fired, silenced", func() bool {
		for _, a := range s.apiAlerts("filter=alertname%3Dnode-reboot-unclean&filter=node%3D%22172.21.128.124%22") {
			st, _ := a["status"].(map[string]any)
			sb, _ := st["silencedBy"].([]any)
			return st["state"] == "suppressed" && len(sb) == 1 && sb[0] == id
		}
		return false
	})
	if out := s.amtool("alert", "query", "--silenced", "alertname=node-reboot-unclean"); !strings.Contains(out, "172.21.128.124 rebooted") {
		t.Errorf("amtool --silenced lacks the follow-up alert:\n%s", out)
	}
	// The console is told at once: the fleet alert of the same moment is
	// printed, the silenced node's alerts are not.
	bustest.Eventually(t, "the console printed the fleet alert of that moment", func() bool {
		return strings.Contains(s.console.String(), "unclean reboots on 3 nodes")
	})
	if strings.Contains(s.console.String(), "172.21.128.124 rebooted") {
		t.Errorf("the silenced alert was notified:\n%s", s.console.String())
	}
	if !strings.Contains(metrics(t, s.r), `aftershock_lifecycle_muted_total{by="silence"}`) {
		t.Error("no alert counted as muted by a silence")
	}
}

// screenshot takes the page at path with Chromium, and with
// -update-screenshots keeps it in docs/ui/ for docs/ui.md.
func screenshot(t *testing.T, s *stand, name, path string, height int) {
	t.Helper()
	png := browsertest.Screenshot(t, s.base+path, 1280, height)
	if len(png) < 20_000 {
		t.Errorf("%s: a %d-byte screenshot is too small to show the page", name, len(png))
	}
	if *updateScreenshots {
		if err := os.WriteFile(filepath.Join("../../docs/ui", name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

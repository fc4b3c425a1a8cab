package reboot

import (
	"context"
	"os"
	"strings"
	"time"
)

// shutdownMarks are systemd's messages of an orderly shutdown, old and new
// spellings. They are not kernel signatures: they say the previous boot
// ended on purpose.
var shutdownMarks = []string{
	"systemd[1]: Shutting down.",
	"Reached target Shutdown.", "Reached target System Shutdown.",
	"Reached target Reboot.", "Reached target System Reboot.",
	"Reached target Power-Off.", "Reached target System Power Off.",
	"Reached target Halt.", "Reached target System Halt.",
	"Reached target Kexec.", "Reached target System Kexec.",
	"Received SIGTERM from PID 1 (systemd-shutdown)",
}

// journalShutdown reads the end of the previous boot's whole journal (all
// units) and reports whether it shows an orderly shutdown; seen is false
// when there is no persistent journal of that boot.
func (t *Tracker) journalShutdown(ctx context.Context, bootID string) (clean, seen bool) {
	lw, ok := t.journal(ctx, bootID, "")
	if !ok {
		return false, false
	}
	lines := tail(lw.lines, 200)
	for _, l := range lines {
		for _, m := range shutdownMarks {
			if strings.Contains(l, m) {
				return true, true
			}
		}
	}
	// journald says "Journal stopped" when stopped for any reason; only as
	// the very last line is it the end of the boot.
	if n := len(lines); n > 0 && strings.Contains(lines[n-1], "Journal stopped") {
		return true, true
	}
	return false, true
}

// systemStopping reports whether the host is shutting down or rebooting, and
// what said so. A collector in a container sees the host's /run under the
// host root:
//   - /run/systemd/shutdown/scheduled: a shutdown was scheduled
//     (shutdown +N, or systemctl reboot via logind);
//   - /run/nologin: systemd-user-sessions stopped, which happens early in
//     every shutdown (it also exists briefly while booting, before the
//     collector normally runs);
//   - on the host itself (host root /), `systemctl is-system-running`
//     printing "stopping".
func (t *Tracker) systemStopping(ctx context.Context) (bool, string) {
	for _, p := range []string{"/run/systemd/shutdown/scheduled", "/run/nologin"} {
		if _, err := os.Stat(t.host.Path(p)); err == nil {
			return true, p + " exists"
		}
	}
	if t.opts.HostRoot == "/" {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		out, _ := t.opts.Run(ctx, "systemctl", "is-system-running")
		if state := strings.TrimSpace(string(out)); state == "stopping" {
			return true, "systemctl is-system-running: stopping"
		}
	}
	return false, ""
}

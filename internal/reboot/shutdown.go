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

// logShutdown reads the end of the previous boot's whole log (all units):
// the journal when persistent, else the syslog files, and reports whether it
// shows an orderly shutdown; seen is false when neither has that boot.
func (t *Tracker) logShutdown(ctx context.Context, prev bootState, bootTime time.Time) (clean, seen bool) {
	var lines []string
	if lw, ok := t.journal(ctx, prev.BootID, ""); ok {
		lines = lw.lines
	} else {
		// Debian/Ubuntu rsyslog, then the RHEL family's.
		lines, _, _ = t.syslogBefore([]string{"/var/log/syslog.1", "/var/log/syslog"}, prev.BootTime, bootTime)
		if len(lines) == 0 {
			lines, _, _ = t.syslogBefore([]string{"/var/log/messages"}, prev.BootTime, bootTime)
		}
	}
	if len(lines) == 0 {
		return false, false
	}
	return shutdownIn(tail(lines, 200)), true
}

func shutdownIn(lines []string) bool {
	for _, l := range lines {
		for _, m := range shutdownMarks {
			if strings.Contains(l, m) {
				return true
			}
		}
	}
	// journald says "Journal stopped", rsyslogd "exiting on signal 15", when
	// stopped for any reason; only as the very last line is it the end.
	n := len(lines)
	return n > 0 && (strings.Contains(lines[n-1], "Journal stopped") || strings.Contains(lines[n-1], "exiting on signal 15"))
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

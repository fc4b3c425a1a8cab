package notify

import "github.com/aftershock/aftershock/internal/alert"

// Icon is how a reader tells at a glance how bad an alert is: 🔥 only
// for critical, so a fire on the phone means get up; ⚠️ warning; ℹ️ the
// rest; ✅ resolved.
func Icon(a *alert.Alert) string {
	if a.State == alert.Resolved {
		return "✅"
	}
	return severityIcon(a.Severity)
}

func severityIcon(sev string) string {
	switch sev {
	case "critical":
		return "🔥"
	case "warning":
		return "⚠️"
	}
	return "ℹ️"
}

// firingIcon is the icon of the worst firing alert of as.
func firingIcon(as []*alert.Alert) string {
	worst := ""
	for _, a := range as {
		if a.State != alert.Firing {
			continue
		}
		switch {
		case a.Severity == "critical":
			return severityIcon("critical")
		case a.Severity == "warning":
			worst = "warning"
		}
	}
	return severityIcon(worst)
}

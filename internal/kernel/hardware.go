package kernel

import (
	"strconv"
	"strings"
)

// MCi_STATUS bits (Intel SDM vol. 3B, 16.3.2.2; AMD APM vol. 2, 9.3.2.2).
const (
	mciStatusUC  = 1 << 61 // error not corrected
	mciStatusPCC = 1 << 57 // processor context corrupt
)

// hardwareSeverity normalises what a kernel.mce report says of its
// severity: the kernel's verdict when it printed one ("Machine check:
// Processor context corrupt", GHES "event severity: fatal"), EDAC's CE/UE,
// else what the first bank's MCi_STATUS says.
func hardwareSeverity(reason, status string) string {
	switch reason {
	case "CE":
		return "corrected"
	case "UE":
		return "uncorrected"
	case "":
	default:
		return strings.ToLower(reason)
	}
	if status == "" {
		return ""
	}
	st, err := strconv.ParseUint(status, 16, 64)
	if err != nil {
		return ""
	}
	switch {
	case st&mciStatusPCC != 0:
		return "processor context corrupt"
	case st&mciStatusUC != 0:
		return "uncorrected"
	}
	return "corrected"
}

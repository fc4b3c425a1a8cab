package kernel

import "github.com/aftershock/aftershock/internal/event"

// hardwareCases: machine checks, EDAC and APEI/GHES records: hardware, not
// software.
var hardwareCases = []fixtureCase{
	{"k44-mce-fatal.dmesg", "arch/x86/kernel/cpu/mcheck/mce.c print_mce \"CPU %d: Machine Check Exception: %Lx Bank %d: %016Lx\", mce_panic \"Machine check: %s\" and panic(\"Fatal machine check\"), HW_ERR \"[Hardware Error]: \" (v4.4.178)", []want{
		// Both banks of the one event are one report; the verdict is the kernel's.
		{typ: event.TypeKernelMCE, sig: "mce-exception", summary: "CPU 11: Machine Check Exception: 5 Bank 4: be00000000800400", reason: "processor context corrupt"},
		{typ: event.TypeKernelPanic, reason: "Fatal machine check"},
	}},
	{"k515-mce-corrected.dmesg", "drivers/edac/edac_mc.c edac_ce_error \"%d CE %s%son %s (…)\"; arch/x86/kernel/cpu/mce/core.c __print_mce \"CPU %d: Machine Check%s: %Lx Bank %d: %016Lx\", mce_notify_irq \"Machine check events logged\" (v5.15.135)", []want{
		{typ: event.TypeKernelMCE, sig: "edac-ce", device: "MC0", reason: "corrected", count: 1},
		{typ: event.TypeKernelMCE, sig: "edac-ce", device: "MC0", reason: "corrected", count: 2},
		{typ: event.TypeKernelMCE, sig: "mce-logged", count: 1},
		// MCi_STATUS cc00008000010090: valid, overflow, not UC: corrected.
		{typ: event.TypeKernelMCE, sig: "mce-exception", reason: "corrected"},
	}},
	{"k61-arm64-ghes.dmesg", "drivers/acpi/apei/ghes.c __ghes_print_estatus \"%s{%u}[Hardware Error]: Hardware error from APEI Generic Hardware Error Source: %d\", drivers/firmware/efi/cper.c \"event severity: %s\", __ghes_panic panic(\"Fatal hardware error!\") (v6.1.20)", []want{
		{typ: event.TypeKernelMCE, sig: "ghes", reason: "corrected"},
		{typ: event.TypeKernelMCE, sig: "ghes", reason: "fatal"},
		{typ: event.TypeKernelPanic, reason: "Fatal hardware error!", release: "6.1.0-18-arm64", firstFrame: "dump_backtrace+0xe4/0x140"},
	}},
}

package reboot_test

import (
	"testing"
	"time"

	"github.com/aftershock/aftershock/internal/event"
	"github.com/aftershock/aftershock/internal/reboot"
)

// TestPackClassifierDates: a finding's time is a date only when its lines
// carry one, completed with the zone and year of the boot they came from.
func TestPackClassifierDates(t *testing.T) {
	shanghai := time.FixedZone("CST", 8*3600)
	const bug = "kernel BUG at /build/linux/include/linux/fs.h:2582!"
	for _, tc := range []struct {
		name   string
		format string
		lines  []string
		d      reboot.Dating
		want   time.Time
	}{
		{
			name: "kern.log in the host's zone", format: reboot.FormatJournal,
			lines: []string{"Jun 14 13:14:38 host kernel: [ 3001.000001] " + bug},
			d:     reboot.Dating{Location: shanghai, Ref: time.Date(2020, 6, 14, 5, 15, 6, 0, time.UTC)},
			want:  time.Date(2020, 6, 14, 5, 14, 38, 0, time.UTC),
		},
		{
			name: "December's kern.log read after New Year", format: reboot.FormatJournal,
			lines: []string{"Dec 31 23:59:50 host kernel: [ 3001.000001] " + bug},
			d:     reboot.Dating{Location: time.UTC, Ref: time.Date(2021, 1, 1, 0, 1, 0, 0, time.UTC)},
			want:  time.Date(2020, 12, 31, 23, 59, 50, 0, time.UTC),
		},
		{
			name: "kern.log in an unknown zone is read in the local one", format: reboot.FormatJournal,
			lines: []string{"Jun 14 13:14:38 host kernel: [ 3001.000001] " + bug},
			d:     reboot.Dating{Ref: time.Date(2020, 6, 14, 5, 15, 6, 0, time.UTC)},
			want:  time.Date(2020, 6, 14, 13, 14, 38, 0, time.Local),
		},
		{
			name: "journal short-iso carries its own date", format: reboot.FormatJournal,
			lines: []string{"2020-06-14T13:14:38+0800 host kernel: " + bug},
			want:  time.Date(2020, 6, 14, 5, 14, 38, 0, time.UTC),
		},
		{
			name: "a bare dmesg is not dated", format: reboot.FormatDmesg,
			lines: []string{"[1471234.512200] " + bug},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs := pack(tc.format, tc.lines, tc.d)
			if len(fs) != 1 || fs[0].Type != event.TypeKernelBug {
				t.Fatalf("findings %+v, want one kernel.bug", fs)
			}
			if !fs[0].Time.Equal(tc.want) {
				t.Errorf("time %s, want %s", fs[0].Time, tc.want)
			}
		})
	}
}

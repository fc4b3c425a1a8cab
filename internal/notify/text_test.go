package notify_test

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/aftershock/aftershock/internal/notify"
)

func TestTruncate(t *testing.T) {
	tests := []struct {
		in    string
		limit int
		want  string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"a bit too long", 10, "a bit too…"},
		{"内核错误内核错误内核错误", 5, "内核错误…"},
	}
	for _, tt := range tests {
		if got := notify.Truncate(tt.in, tt.limit, "…"); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.limit, got, tt.want)
		}
	}
}

func TestTruncateBytes(t *testing.T) {
	s := strings.Repeat("内核", 100) // 3 bytes per character
	for limit := 0; limit < 40; limit++ {
		got := notify.TruncateBytes(s, limit, "...")
		if len(got) > limit || !utf8.ValidString(got) {
			t.Fatalf("limit %d: %d bytes, valid %v", limit, len(got), utf8.ValidString(got))
		}
	}
}

func TestSplitBytes(t *testing.T) {
	inputs := map[string]string{
		"ascii lines":        strings.Repeat("kernel BUG at include/linux/fs.h:2582!\n", 300),
		"chinese no newline": strings.Repeat("节点重启后大量DNS超时", 800),
		"mixed emoji":        strings.Repeat("🔥 crash\n", 1000),
		"empty":              "",
	}
	for name, in := range inputs {
		t.Run(name, func(t *testing.T) {
			for _, limit := range []int{4, 7, 100, 4096} {
				parts := notify.SplitBytes(in, limit)
				if strings.Join(parts, "") != in {
					t.Fatalf("limit %d: parts do not rejoin to the input", limit)
				}
				for _, p := range parts {
					if len(p) > limit || !utf8.ValidString(p) {
						t.Fatalf("limit %d: part of %d bytes, valid UTF-8 %v", limit, len(p), utf8.ValidString(p))
					}
				}
			}
		})
	}
}

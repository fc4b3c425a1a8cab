package rule

import "testing"

func TestListFuncs(t *testing.T) {
	fold := TemplateFuncs["fold"].(func(any) string)
	uniq := TemplateFuncs["uniq"].(func(any) string)
	for _, tc := range []struct {
		in         any
		fold, uniq string
	}{
		{[]any{"nvme1", "nvme1n1", "nvme1n1", "nvme1"}, "nvme1 ×2, nvme1n1 ×2", "nvme1, nvme1n1"},
		{[]string{"b", "a", "b"}, "b ×2, a", "b, a"},
		{nil, "", ""},
	} {
		if got := fold(tc.in); got != tc.fold {
			t.Errorf("fold %v = %q, want %q", tc.in, got, tc.fold)
		}
		if got := uniq(tc.in); got != tc.uniq {
			t.Errorf("uniq %v = %q, want %q", tc.in, got, tc.uniq)
		}
	}
}

func TestPlural(t *testing.T) {
	plural := TemplateFuncs["plural"].(func(any, string, string) string)
	for _, tc := range []struct {
		n    any
		want string
	}{
		{1, "1 disk I/O error"},
		{int64(1), "1 disk I/O error"},
		{uint64(1), "1 disk I/O error"},
		{1.0, "1 disk I/O error"},
		{0, "0 disk I/O errors"},
		{int64(3), "3 disk I/O errors"},
		{uint64(12000000), "12000000 disk I/O errors"},
		{2.5, "2.5 disk I/O errors"},
		{"many", "many disk I/O errors"},
		{nil, "<nil> disk I/O errors"},
	} {
		if got := plural(tc.n, "disk I/O error", "disk I/O errors"); got != tc.want {
			t.Errorf("plural %#v = %q, want %q", tc.n, got, tc.want)
		}
	}
}

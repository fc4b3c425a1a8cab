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

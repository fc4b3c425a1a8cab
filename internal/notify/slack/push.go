package slack

import "strings"

// pushText is what a phone shows for an update: its title, then what
// changed. An update's title is rendered from the alert as it now is, so
// it often says the news already ("…crashed: kernel BUG at …" beside
// "cause found: 10.2.0.29: kernel BUG at …"); those notes are left out,
// as the push has room for a line or two.
func pushText(title string, notes []string) string {
	var extra []string
	for _, n := range notes {
		if !saidIn(title, n) {
			extra = append(extra, n)
		}
	}
	if len(extra) == 0 {
		return title
	}
	return strings.TrimRight(title, ".") + ": " + strings.Join(extra, "; ")
}

// saidIn reports whether title says note already: the note's text after
// its short labels ("cause found: 10.7.0.5: …") is in the title, or every
// word of it but articles is.
func saidIn(title, note string) bool {
	t, n := strings.ToLower(title), strings.ToLower(unlabel(note))
	if n == "" || strings.Contains(t, n) {
		return true
	}
	words := map[string]bool{}
	for _, w := range strings.Fields(t) {
		words[strings.Trim(w, ",;:.")] = true
	}
	for _, w := range strings.Fields(n) {
		w = strings.Trim(w, ",;:.")
		if w != "" && w != "the" && w != "a" && w != "an" && !words[w] {
			return false
		}
	}
	return true
}

// unlabel drops leading labels of at most two words ending in ": ".
func unlabel(note string) string {
	for {
		label, rest, ok := strings.Cut(note, ": ")
		if !ok || len(strings.Fields(label)) > 2 {
			return note
		}
		note = rest
	}
}

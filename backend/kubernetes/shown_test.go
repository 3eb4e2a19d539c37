package kubernetes

import (
	"strconv"
	"strings"
	"testing"

	"meridian.dev/meridian/internal/textsafe"
)

// FuzzShown: what a site's API server sends (a label, a UID, a pod's
// name) is shown in ASCII, so nothing textsafe flags reaches a terminal
// or a log as itself, even where the cut splits a character; and the
// shown form reads back as the text, or its first shownBytes bytes.
func FuzzShown(f *testing.F) {
	for _, s := range []string{"", "app", "\x1b[2J\u202eraw", "a\u2028b\u2029", "\xff\xfe",
		strings.Repeat("é", shownBytes), strings.Repeat("x", shownBytes-1) + "\u202e"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := shown(s)
		for i := 0; i < len(got); i++ {
			if got[i] < 0x20 || got[i] > 0x7e {
				t.Fatalf("shown(%q) = %q holds a byte that is not printable ASCII", s, got)
			}
		}
		if !textsafe.Safe(got) {
			t.Fatalf("shown(%q) = %q holds what textsafe flags", s, got)
		}
		want := s
		if len(s) > shownBytes {
			want = s[:shownBytes]
			got = strings.TrimSuffix(got, "...")
		}
		if u, err := strconv.Unquote(got); err != nil || u != want {
			t.Fatalf("shown(%q) reads back as %q, %v; want %q", s, u, err, want)
		}
	})
}

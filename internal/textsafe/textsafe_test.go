package textsafe

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestUnsafe(t *testing.T) {
	for _, r := range []rune{0, '\t', '\n', '\r', 0x1b, 0x7f, 0x80, 0x85, 0x9b, 0x9f,
		0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x2028, 0x2029} {
		if !Unsafe(r) {
			t.Errorf("Unsafe(%U) = false, want true", r)
		}
	}
	// Direction marks, spaces, letters of every script, a written U+FFFD
	// and the characters just outside the ranges are shown as they are.
	for _, r := range []rune{' ', 'a', '~', 0xa0, 0xe9, 0x200e, 0x200f, 0x061c, 0x2027, 0x2029 + 7,
		0x2065, 0x206a, 0x5317, 0xfffd, 0x1f600} {
		if Unsafe(r) {
			t.Errorf("Unsafe(%U) = true, want false", r)
		}
	}
}

func TestIndex(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int
	}{
		{"", -1},
		{"plain name", -1},
		{"Zürich \u200fשלום\u200e 1", -1},
		{"written \ufffd", -1},
		{"a\x1b[2J", 1},
		{"ab\x7f", 2},
		{"é\u0085", 2},
		{"x\u202eyx", 1},
		{"site\u2028forged", 4},
		{"para\u2029", 4},
		{"ok \xff", 3},
		{"cut \xe2\x80", 4},
		{"iso\u2066x\u2069", 3},
	} {
		if got := Index(c.s); got != c.want {
			t.Errorf("Index(%q) = %d, want %d", c.s, got, c.want)
		}
		if got := Safe(c.s); got != (c.want < 0) {
			t.Errorf("Safe(%q) = %v", c.s, got)
		}
	}
}

func TestQuote(t *testing.T) {
	for _, c := range []struct{ s, want string }{
		{"plain", "plain"},
		{`with "quotes" \ as written`, `with "quotes" \ as written`},
		{"a\u202eb", `"a\u202eb"`},
		{"SG\u2028forged", `"SG\u2028forged"`},
		{"j\x1b[2Jx", `"j\x1b[2Jx"`},
		{"ok \xff", `"ok \xff"`},
	} {
		if got := Quote(c.s); got != c.want {
			t.Errorf("Quote(%q) = %s, want %s", c.s, got, c.want)
		}
	}
}

func TestEscape(t *testing.T) {
	for _, c := range []struct{ s, want string }{
		{"plain", "plain"},
		{"lab\x1b]0;pwned\x07\nrecorded: allowed", `lab\x1b]0;pwned\a\nrecorded: allowed`},
		{`"q" \ a` + "\u202e", `"q" \ a\u202e`},
		{"x\u2028y\u2029", `x\u2028y\u2029`},
		{"bad \xff\xfe end é", `bad \xff\xfe end é`},
		{"cut \xe2\x80", `cut \xe2\x80`},
		{"c1 \u009b", `c1 \u009b`},
		{"written \ufffd", "written \ufffd"},
	} {
		if got := Escape(c.s); got != c.want {
			t.Errorf("Escape(%q) = %s, want %s", c.s, got, c.want)
		}
	}
}

// shownSafe fails t when shown, a form of s, holds what Index flags.
func shownSafe(t *testing.T, form, s, shown string) {
	t.Helper()
	if i := Index(shown); i >= 0 {
		t.Fatalf("%s(%q) = %q holds an unsafe character at %d", form, s, shown, i)
	}
}

func FuzzForms(f *testing.F) {
	for _, s := range []string{"", "plain", "a\x1b[2J", "x\u202ey", "s\u2028f", "\xff\xfe", "é\u0085", "\ufffd", `\x1b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q := Quote(s)
		shownSafe(t, "Quote", s, q)
		if Safe(s) {
			if q != s {
				t.Fatalf("Quote(%q) = %q changed safe text", s, q)
			}
		} else if u, err := strconv.Unquote(q); err != nil || u != s {
			t.Fatalf("Quote(%q) = %q does not unquote to it: %q, %v", s, q, u, err)
		}
		e := Escape(s)
		shownSafe(t, "Escape", s, e)
		if Safe(s) != (e == s) {
			t.Fatalf("Escape(%q) = %q, Safe %v", s, e, Safe(s))
		}
		// Escape changes nothing but the unsafe characters: the safe text
		// between them is kept, in order.
		if !utf8.ValidString(e) {
			t.Fatalf("Escape(%q) = %q is not UTF-8", s, e)
		}
		var kept strings.Builder
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			if !(r == utf8.RuneError && n == 1) && !Unsafe(r) {
				kept.WriteString(s[i : i+n])
			}
			i += n
		}
		if !isSubsequence(kept.String(), e) {
			t.Fatalf("Escape(%q) = %q lost safe text %q", s, e, kept.String())
		}
	})
}

// isSubsequence reports whether every byte of a is in b, in order.
func isSubsequence(a, b string) bool {
	j := 0
	for i := 0; i < len(b) && j < len(a); i++ {
		if a[j] == b[i] {
			j++
		}
	}
	return j == len(a)
}

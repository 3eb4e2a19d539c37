package textsafe

import (
	"strconv"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestUnsafe(t *testing.T) {
	for _, r := range []rune{0, '\t', '\n', '\r', 0x1b, 0x7f, 0x80, 0x85, 0x9b, 0x9f,
		0x202a, 0x202b, 0x202c, 0x202d, 0x202e, 0x2066, 0x2067, 0x2068, 0x2069, 0x2028, 0x2029} {
		if !Unsafe(r) {
			t.Errorf("Unsafe(%U) = false, want true", r)
		}
	}
	// Direction marks, joiners and variation selectors (Contextual: Index
	// judges them in place), spaces, letters of every script, a written
	// U+FFFD and the characters just outside the ranges are not unsafe
	// as characters.
	for _, r := range []rune{' ', 'a', '~', 0xa0, 0xe9, 0x200c, 0x200d, 0x200e, 0x200f, 0x061c, 0x2027,
		0x2029 + 7, 0x2070, 0x5317, 0xfffd, 0x1f600, 0xfe0f, 0x0600, 0x06dd, 0x00ac, 0x00ae} {
		if Unsafe(r) {
			t.Errorf("Unsafe(%U) = true, want false", r)
		}
	}
}

// TestInvisibleUnsafe: characters drawn as nothing that no name needs
// (the soft hyphen, the zero-width space, the word joiner, the invisible
// operators, the byte order mark, the tag characters, the Hangul
// fillers) were shown as themselves: "ad\u200bmin" read as "admin". Each
// is unsafe now, and escaped wherever text is shown.
func TestInvisibleUnsafe(t *testing.T) {
	for _, r := range []rune{0x00ad, 0x034f, 0x115f, 0x1160, 0x17b4, 0x180e, 0x200b, 0x2060, 0x2061, 0x2062,
		0x2063, 0x2064, 0x2065, 0x206a, 0x206f, 0x3164, 0xfeff, 0xffa0, 0xfff9, 0xfffb, 0x1bca0, 0x1d173,
		0xe0001, 0xe0020, 0xe0041, 0xe007f, 0xe01f0} {
		if !Unsafe(r) || !Invisible(r) {
			t.Errorf("Unsafe(%U) = %v, Invisible %v, want both true", r, Unsafe(r), Invisible(r))
		}
		s := "ad" + string(r) + "min"
		if got := Index(s); got != 2 {
			t.Errorf("Index(%q) = %d, want 2", s, got)
		}
		if got, want := Escape(s), "ad"+strings.Trim(strconv.QuoteRuneToASCII(r), "'")+"min"; got != want {
			t.Errorf("Escape(%q) = %s, want %s", s, got, want)
		}
		if q := Quote(s); !Safe(q) || q == s {
			t.Errorf("Quote(%q) = %s", s, q)
		}
	}
}

// TestContextual: the joiners, direction marks and variation selectors
// are shown as themselves only where a word needs them; elsewhere each is
// invisible and makes the text look like other text, and is escaped.
func TestContextual(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int
	}{
		// Zero-width non-joiner and joiner in words that need them.
		{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", -1}, // Persian: می‌خواهم
		{"\u0915\u094d\u200d\u0937", -1},                         // Devanagari: क्‍ष
		{"\u0915\u094d\u200c\u0937", -1},                         // Devanagari, ZWNJ
		{"\u0dc1\u0dca\u200d\u0dbb\u0dd3", -1},                   // Sinhala: ශ්‍රී
		{"\u0645\u0650\u200c\u06cc", -1},                         // after a vowel sign (Inherited)
		{"\U0001f468\u200d\U0001f469\u200d\U0001f467", -1},       // family
		{"\U0001f3f3\ufe0f\u200d\U0001f308", -1},                 // rainbow flag
		{"\U0001f469\U0001f3fd\u200d\U0001f4bb", -1},             // skin tone
		// Out of place.
		{"ad\u200dmin", 2},
		{"ad\u200cmin", 2},
		{"\u200d\u0628", 0},
		{"\u0628\u200d", 2},
		{"\u0628\u200d a", 2},
		{"\u0628\u200d\u200d\u0628", 2},
		{"\u0628\u200dx", 2},
		{"\u0915\u094d\u200d\u0628", 6}, // across scripts
		{"\U0001f600\u200c\U0001f600", 4},
		{"\U0001f600\u200da", 4},
		{"a\u200d\U0001f600", 1},
		{"x\ufe0f\u200d\u0628", 4}, // a selector is no letter to join
		// Direction marks next to text written right to left.
		{"Z\u00fcrich \u200f\u05e9\u05dc\u05d5\u05dd\u200e 1", -1},
		{"\u0627\u061c1", -1},
		{"1\u200f-2", 1}, // shows as 12-
		{"\u200e", 0},
		{"abc\u200e", 3},
		{"\u202e\u200e\u05e9", 0},
		// Variation selectors: one, after a character shown as itself.
		{"\u2764\ufe0f", -1},
		{"#\ufe0f\u20e3", -1},
		{"\u845b\U000e0100", -1},
		{"\u1820\u180b", -1},
		{"\ufe0f", 0},
		{"\U0001f600\ufe0f\ufe0f", 7},
		{"\U0001f600\U000e0101\U000e0102", 8},
		{" \ufe0f", 1},
		{"\u200b\ufe0f", 0},
		{"\u3164\ufe0f", 0},
	} {
		if got := Index(c.s); got != c.want {
			t.Errorf("Index(%+q) = %d, want %d", c.s, got, c.want)
		}
		e, q := Escape(c.s), Quote(c.s)
		if !Safe(e) || !Safe(q) {
			t.Errorf("Escape(%+q) = %+q, Quote %+q: not safe", c.s, e, q)
		}
		if (c.want < 0) != (e == c.s) {
			t.Errorf("Escape(%+q) = %+q", c.s, e)
		}
	}
	if got, want := Escape("ad\u200dmin \u0628\u200c\u0628"), `ad\u200dmin `+"\u0628\u200c\u0628"; got != want {
		t.Errorf("Escape = %+q, want %+q", got, want)
	}
	if got, want := Quote("\U0001f600\ufe0f\ufe0f"), `"`+"\U0001f600\ufe0f"+`\ufe0f"`; got != want {
		t.Errorf("Quote = %+q, want %+q", got, want)
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
	for _, s := range []string{"", "plain", "a\x1b[2J", "x\u202ey", "s\u2028f", "\xff\xfe", "é\u0085", "\ufffd", `\x1b`,
		"ad\u200bmin\u00ad", "\ufeff\u2060\u3164", "\u0645\u06cc\u200c\u062e", "\u0915\u094d\u200d\u0937", "a\u200db",
		"\U0001f3f3\ufe0f\u200d\U0001f308", "\U0001f600\ufe0f\ufe0f", "\u05e9\u200e1", "1\u200f-2", "\U0001f3f4\U000e0067\U000e0062\U000e007f",
		"\u845b\U000e0100", "\u0628\u200d\xff"} {
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
		prev := rune(-1)
		for i := 0; i < len(s); {
			r, n, esc := At(s, i, prev)
			if !esc {
				kept.WriteString(s[i : i+n])
				prev = r
			} else {
				prev = -1
			}
			if bad := r == utf8.RuneError && n == 1 || Unsafe(r); esc && !bad && !Contextual(r) || !esc && bad {
				t.Fatalf("At(%+q, %d) = %v, Escape %+q", s, i, esc, e)
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

// TestInvisibleRangesSkipped: Invisible and Contextual, which search the
// Unicode tables for few characters, answer as the tables do for every
// one: Invisible the format (Cf) and other default-ignorable characters
// but the prepended concatenation marks, which are drawn, and Contextual
// ones; Contextual the joiners, the direction marks and the variation
// selectors.
func TestInvisibleRangesSkipped(t *testing.T) {
	drawn := map[rune]bool{0x600: true, 0x601: true, 0x602: true, 0x603: true, 0x604: true, 0x605: true,
		0x6dd: true, 0x70f: true, 0x890: true, 0x891: true, 0x8e2: true, 0x110bd: true, 0x110cd: true}
	for r := rune(0); r <= unicode.MaxRune; r++ {
		ctx := r >= 0x200c && r <= 0x200f || r == 0x61c || unicode.Is(unicode.Variation_Selector, r)
		if Contextual(r) != ctx {
			t.Errorf("Contextual(%U) = %v, want %v", r, Contextual(r), ctx)
		}
		inv := (unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)) && !drawn[r] && !ctx
		if Invisible(r) != inv {
			t.Errorf("Invisible(%U) = %v, the tables say %v", r, Invisible(r), inv)
		}
	}
}

// TestIndexKeeping: IndexKeeping finds what Index finds but the characters
// it is told to keep (a tab, a newline), which it passes over as written
// escaped: a joiner or a mark right after a newline has no character shown
// before it.
func TestIndexKeeping(t *testing.T) {
	for _, c := range []struct {
		s    string
		want int
	}{
		{"", -1},
		{"two\n\tlines", -1},
		{"ad\u200dmin", 2},
		{"\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645\nok", -1},
		{"\U0001f469\u200d\U0001f4bb\tok", -1},
		{"\u05e9\u05dc\u05d5\u05dd\u200f 2030", -1},
		{"2030\u200f", 4},
		{"x\n\u200f", 2},
		{"\u2764\ufe0f\n\ufe0f", 7},
		{"a\x1b[2J", 1},
		{"a\r\n", 1},
		{"ok \xff", 3},
		{"x\u200by", 1},
	} {
		if got := IndexKeeping(c.s, "\t\n"); got != c.want {
			t.Errorf("IndexKeeping(%q) = %d, want %d", c.s, got, c.want)
		}
	}
	// Keeping nothing, it is Index.
	for _, s := range []string{"a\tb", "ad\u200dmin", "plain", "x\n"} {
		if got, want := IndexKeeping(s, ""), Index(s); got != want {
			t.Errorf("IndexKeeping(%q, \"\") = %d, Index = %d", s, got, want)
		}
	}
}

// Package textsafe decides which characters of text written by someone
// else (a tenant's document, a site's answer, an entry of a published
// list, a workload's output) may not reach a terminal or a log as
// themselves, and writes them escaped.
//
// Such text is hostile: a terminal escape in it rewrites what the person
// reading sees, a line break or a line separator forges a line of a log
// or of a command's output, a bidirectional override shows the text
// after it in another order than it is stored, and a character drawn as
// nothing (a zero-width space, a joiner between Latin letters) makes a
// name look like another. Every place that shows
// such text uses this one predicate, so that none of them lets through
// what another escapes.
package textsafe

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bidi reports whether r is an explicit bidirectional formatting
// character: an embedding or override (U+202A to U+202E) or an isolate
// (U+2066 to U+2069). Each reorders how the text after it is displayed,
// up to its closing character or the end of the line, so a name holding
// one can show in a table, a log or a terminal as other text than it is
// (the "Trojan Source" trick). The marks (U+200E, U+200F, U+061C) are not
// among them: each acts as one invisible letter of its direction; they
// are Contextual.
func Bidi(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// Invisible reports whether r is drawn as nothing (or as a blank no
// space shows) and no name needs it anywhere: the soft hyphen, the
// zero-width space, the word joiner and the invisible operators (U+2060
// to U+2064), the byte order mark (U+FEFF), the other format characters
// (Unicode's Cf: the deprecated U+206A to U+206F, the interlinear
// annotation characters, the tag characters U+E0000 to U+E007F, which
// spell ASCII no one sees) but those drawn as a sign (U+0600 to U+0605 and
// the other prepended concatenation marks) and the Contextual ones, and
// Unicode's other default-ignorable code points (the combining grapheme
// joiner, the Hangul fillers, unassigned ones). Text holding one shows as
// other text than it is: two names that differ by one look alike, and a
// word split by one is not the word a search or a reader finds.
func Invisible(r rune) bool {
	if r < 0x2070 {
		// Below U+2070 the tables name only these: the rest (Latin,
		// Greek, Cyrillic, Hebrew, most of Arabic and the Indic scripts)
		// is not searched.
		switch {
		case r == 0xad, r == 0x34f, r == 0x180e, r >= 0x115f && r <= 0x1160, r >= 0x17b4 && r <= 0x17b5,
			r >= 0x200b && r <= 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2060:
			return !Contextual(r)
		}
		return false
	}
	if r < 0xfe00 && r != 0x3164 {
		return false // none from U+2070 to U+FDFF but the Hangul filler
	}
	switch r {
	case 0x110bd, 0x110cd:
		return false // drawn: a sign that spans the digits after it
	}
	if Contextual(r) {
		return false
	}
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// Contextual reports whether r is shown as itself in some places only
// (Fits): the zero-width non-joiner and joiner (U+200C, U+200D), which
// Persian, Arabic and Indic words and emoji sequences need; the direction
// marks (U+200E, U+200F, U+061C), which text written right to left needs
// to place digits and punctuation; and the variation selectors (U+FE00 to
// U+FE0F, U+E0100 to U+E01EF, the Mongolian U+180B to U+180D and
// U+180F), which choose how the character before them is drawn (an
// emoji's colour form, a variant of a Han character). Elsewhere each is
// drawn as nothing and hides, joins or reorders the text around it.
func Contextual(r rune) bool {
	switch {
	case r >= 0x200c && r <= 0x200f, r == 0x061c:
		return true
	case r >= 0x180b && r <= 0x180f && r != 0x180e, r >= 0xfe00 && r <= 0xfe0f, r >= 0xe0100 && r <= 0xe01ef:
		return true // unicode.Variation_Selector
	}
	return false
}

// Unsafe reports whether r may not be shown as itself anywhere: a C0 or
// C1 control or DEL, a bidirectional formatting character (Bidi), the
// line or paragraph separator (U+2028, U+2029), or an invisible character
// (Invisible). Bytes that are not UTF-8 are unsafe too, and so is a
// Contextual character out of its place; a string's are found by Index,
// as a rune cannot tell one from a U+FFFD written as such nor know its
// neighbours.
func Unsafe(r rune) bool {
	return unicode.IsControl(r) || Bidi(r) || r == '\u2028' || r == '\u2029' || Invisible(r)
}

// Fits reports whether r, a Contextual character, may be shown as itself
// between prev and next. prev is the character before r when it is shown
// as itself, else -1 (r starts the text, or what is before it is written
// escaped); next is the character after r, or -1 where there is none or
// it is a byte that is not UTF-8. It holds for
//   - a zero-width non-joiner or joiner between two letters or marks of a
//     script that joins or shapes its letters (Arabic, Syriac, N'Ko,
//     Mongolian, the Indic scripts, Khmer, Myanmar, Tibetan and others:
//     joiningScripts), the one after it of the script of the one before
//     unless that is a combining mark of every script (a vowel sign);
//   - a zero-width joiner between two emoji parts: after a symbol (So),
//     a skin-tone modifier or U+FE0F, before a symbol;
//   - a direction mark next to (before or after) a letter, mark or digit
//     of a script written right to left (rtlScripts);
//   - a variation selector right after a letter, a digit, a symbol or a
//     punctuation mark shown as itself: one per character.
//
// Between two Latin letters, at the start or the end of the text, after
// another invisible character or a second in a row, each is written
// escaped: there it serves no word and only makes the text look like
// other text ("ad\u200dmin" as "admin", a payload hidden in variation
// selectors after an emoji).
func Fits(prev, r, next rune) bool {
	switch r {
	case 0x200c, 0x200d:
		if prev < 0 || next < 0 || !base(prev) && !Contextual(prev) || !base(next) {
			return false
		}
		if s := joiningScript(next); s != nil && base(prev) && (unicode.IsLetter(next) || unicode.IsMark(next)) {
			if unicode.Is(s, prev) && (unicode.IsLetter(prev) || unicode.IsMark(prev)) {
				return true
			}
			if unicode.IsMark(prev) && unicode.Is(unicode.Inherited, prev) {
				return true
			}
		}
		return r == 0x200d && unicode.Is(unicode.So, next) &&
			(unicode.Is(unicode.So, prev) && base(prev) || prev >= 0x1f3fb && prev <= 0x1f3ff || prev == 0xfe0f)
	case 0x200e, 0x200f, 0x061c:
		return rtl(prev) || rtl(next)
	}
	// A variation selector.
	return prev >= 0 && base(prev) && (unicode.IsLetter(prev) || unicode.IsNumber(prev) ||
		unicode.IsSymbol(prev) || unicode.IsPunct(prev))
}

// base reports whether r is a character shown as itself wherever it is:
// not unsafe, not Contextual.
func base(r rune) bool {
	return r >= 0 && r != utf8.RuneError && !Unsafe(r) && !Contextual(r)
}

// rtl reports whether r is a letter, a mark or a digit of a script
// written right to left.
func rtl(r rune) bool {
	return base(r) && r >= 0x0590 && (unicode.IsLetter(r) || unicode.IsMark(r) || unicode.IsNumber(r)) &&
		unicode.In(r, rtlScripts...)
}

// rtlScripts are the scripts written right to left whose text needs the
// direction marks.
var rtlScripts = []*unicode.RangeTable{unicode.Hebrew, unicode.Arabic, unicode.Syriac, unicode.Thaana,
	unicode.Nko, unicode.Samaritan, unicode.Mandaic, unicode.Adlam, unicode.Hanifi_Rohingya}

// joiningScripts are the scripts whose words need the zero-width
// non-joiner and joiner: cursive scripts, which join their letters, and
// those that form conjuncts after a virama.
var joiningScripts = []*unicode.RangeTable{unicode.Arabic, unicode.Syriac, unicode.Nko,
	unicode.Mongolian, unicode.Mandaic, unicode.Manichaean, unicode.Psalter_Pahlavi, unicode.Adlam,
	unicode.Hanifi_Rohingya, unicode.Phags_Pa, unicode.Devanagari, unicode.Bengali, unicode.Gurmukhi,
	unicode.Gujarati, unicode.Oriya, unicode.Tamil, unicode.Telugu, unicode.Kannada, unicode.Malayalam,
	unicode.Sinhala, unicode.Khmer, unicode.Myanmar, unicode.Tibetan, unicode.Balinese, unicode.Javanese}

// joiningScript is the one of joiningScripts r is of, or nil.
func joiningScript(r rune) *unicode.RangeTable {
	if r < 0x0600 {
		return nil
	}
	for _, s := range joiningScripts {
		if unicode.Is(s, r) {
			return s
		}
	}
	return nil
}

// At decodes the character of s at byte offset i (r, of n bytes) and
// reports whether it may not be shown as itself there: it is Unsafe, a
// Contextual character that does not Fit, or a byte that is not UTF-8
// (r is then utf8.RuneError and n 1). prev is the character before it
// when that is shown as itself, else -1 (i is 0, or what is before it is
// written escaped). A caller that walks s passes r as the next prev when
// escaped is false, -1 when it is true.
func At(s string, i int, prev rune) (r rune, n int, escaped bool) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1, c < 0x20 || c == 0x7f
	}
	r, n = utf8.DecodeRuneInString(s[i:])
	switch {
	case r == utf8.RuneError && n == 1, Unsafe(r):
		return r, n, true
	case Contextual(r):
		next := rune(-1)
		if i+n < len(s) {
			if nr, nn := utf8.DecodeRuneInString(s[i+n:]); !(nr == utf8.RuneError && nn == 1) {
				next = nr
			}
		}
		return r, n, !Fits(prev, r, next)
	}
	return r, n, false
}

// Index is the byte offset in s of the first character or byte that may
// not be shown as itself there (At), or -1 when there is none.
func Index(s string) int { return IndexKeeping(s, "") }

// IndexKeeping is Index for text that may hold the ASCII characters of
// keep (a tab and a newline, in text laid out over lines): it passes over
// each, as written escaped (the character after one has no character
// shown before it), and gives the byte offset of the first other character
// or byte that may not be shown as itself where it is, or -1. A loader
// that refuses what IndexKeeping finds keeps out of its text all that a
// display would write escaped (a joiner between two Latin letters as well
// as a terminal escape) but the layout it allows, and keeps the
// contextual characters where they belong (Fits).
func IndexKeeping(s, keep string) int {
	prev := rune(-1)
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			switch {
			case c >= 0x20 && c != 0x7f:
				prev = rune(c)
			case strings.IndexByte(keep, c) >= 0:
				prev = -1
			default:
				return i
			}
			i++
			continue
		}
		r, n, esc := At(s, i, prev)
		if esc {
			return i
		}
		prev = r
		i += n
	}
	return -1
}

// Safe reports whether s may be shown as it is: it is UTF-8 and holds no
// character that may not be shown as itself where it is (Index).
func Safe(s string) bool { return Index(s) < 0 }

// Quote is s as it is when Safe, else s quoted as Go quotes it
// (strconv.Quote), which writes each unsafe character and each byte that
// is not UTF-8 as an escape; a character strconv.Quote would keep but
// that may not be shown where it is (a Hangul filler, a variation
// selector out of place) is written as an escape too.
func Quote(s string) string {
	if Safe(s) {
		return s
	}
	b := make([]byte, 0, len(s)+16)
	b = append(b, '"')
	prev := rune(-1)
	for i := 0; i < len(s); {
		r, n, esc := At(s, i, prev)
		switch {
		case r == utf8.RuneError && n == 1:
			b = appendByteEscape(b, s[i])
		case esc:
			b = AppendEscaped(b, r)
		case r == '"' || r == '\\':
			b = append(b, '\\', byte(r))
		case !strconv.IsPrint(r):
			b = AppendEscaped(b, r)
		default:
			b = append(b, s[i:i+n]...)
		}
		if esc {
			prev = -1
		} else {
			prev = r
		}
		i += n
	}
	return string(append(b, '"'))
}

// AppendEscaped appends r as Go writes it in a quoted string, also when
// strconv would write it as itself: \x1b, \a, \n, \u202e, \u3164,
// \U000e0041.
func AppendEscaped(dst []byte, r rune) []byte {
	if r < utf8.RuneSelf || !strconv.IsPrint(r) {
		q := strconv.AppendQuoteRune(dst, r)
		// Drop the quotes: q is dst, then 'ESCAPE'.
		n := len(q) - len(dst)
		copy(q[len(dst):], q[len(dst)+1:len(dst)+n-1])
		return q[:len(q)-2]
	}
	const hex = "0123456789abcdef"
	if r > 0xffff {
		dst = append(dst, '\\', 'U')
		for s := 28; s >= 0; s -= 4 {
			dst = append(dst, hex[r>>s&0xf])
		}
		return dst
	}
	dst = append(dst, '\\', 'u')
	for s := 12; s >= 0; s -= 4 {
		dst = append(dst, hex[r>>s&0xf])
	}
	return dst
}

func appendByteEscape(dst []byte, c byte) []byte {
	return append(dst, '\\', 'x', "0123456789abcdef"[c>>4], "0123456789abcdef"[c&0xf])
}

// Escape is s with each character that may not be shown as itself where
// it is (At) written as Go writes it in a quoted string (\x1b, \n,
// \u202e, \u200b) and each byte that is not UTF-8 as \xNN; the rest of s,
// quotes and backslashes included, stays as it is. It is for text shown
// inside a message that is not itself quoted, where the surrounding words
// are the reader's to read.
func Escape(s string) string {
	i := Index(s)
	if i < 0 {
		return s
	}
	b := make([]byte, 0, len(s)+8)
	b = append(b, s[:i]...)
	prev := rune(-1)
	if i > 0 {
		prev, _ = utf8.DecodeLastRuneInString(s[:i])
	}
	for i < len(s) {
		r, n, esc := At(s, i, prev)
		switch {
		case r == utf8.RuneError && n == 1:
			b = appendByteEscape(b, s[i])
		case esc:
			b = AppendEscaped(b, r)
		default:
			b = append(b, s[i:i+n]...)
		}
		if esc {
			prev = -1
		} else {
			prev = r
		}
		i += n
	}
	return string(b)
}

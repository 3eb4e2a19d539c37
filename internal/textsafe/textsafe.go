// Package textsafe decides which characters of text written by someone
// else (a tenant's document, a site's answer, an entry of a published
// list, a workload's output) may not reach a terminal or a log as
// themselves, and writes them escaped.
//
// Such text is hostile: a terminal escape in it rewrites what the person
// reading sees, a line break or a line separator forges a line of a log
// or of a command's output, and a bidirectional override shows the text
// after it in another order than it is stored. Every place that shows
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
// among them: each acts as one invisible letter of its direction,
// reordering no more than a Hebrew or a Latin letter in its place would,
// and names written right to left need them to place digits and
// punctuation.
func Bidi(r rune) bool {
	return r >= 0x202a && r <= 0x202e || r >= 0x2066 && r <= 0x2069
}

// Unsafe reports whether r may not be shown as itself: a C0 or C1
// control or DEL, a bidirectional formatting character (Bidi), or the
// line or paragraph separator (U+2028, U+2029). Bytes that are not UTF-8
// are unsafe too; a string's are found by Index, as a rune cannot tell
// one from a U+FFFD written as such.
func Unsafe(r rune) bool {
	return unicode.IsControl(r) || Bidi(r) || r == '\u2028' || r == '\u2029'
}

// Index is the byte offset in s of the first unsafe character or byte
// that is not UTF-8, or -1 when there is none.
func Index(s string) int {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 || Unsafe(r) {
			return i
		}
		i += n
	}
	return -1
}

// Safe reports whether s may be shown as it is: it is UTF-8 and holds no
// unsafe character.
func Safe(s string) bool { return Index(s) < 0 }

// Quote is s as it is when Safe, else s quoted as Go quotes it
// (strconv.Quote), which writes each unsafe character and each byte that
// is not UTF-8 as an escape.
func Quote(s string) string {
	if Safe(s) {
		return s
	}
	return strconv.Quote(s)
}

// Escape is s with each unsafe character written as Go writes it in a
// quoted string (\x1b, \n, \u202e) and each byte that is not UTF-8 as
// \xNN; the rest of s, quotes and backslashes included, stays as it is.
// It is for text shown inside a message that is not itself quoted, where
// the surrounding words are the reader's to read.
func Escape(s string) string {
	i := Index(s)
	if i < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteByte("0123456789abcdef"[s[i]>>4])
			b.WriteByte("0123456789abcdef"[s[i]&0xf])
		case Unsafe(r):
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

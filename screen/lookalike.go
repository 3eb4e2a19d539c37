package screen

import (
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/mtibben/confusables"
)

// Look-alike letters and invisible characters.
//
// A name written with Cyrillic or Greek letters that look like Latin ones
// ("Ехаmрlе", with Cyrillic е, х, а, р), or with invisible characters
// between its letters (zero-width spaces, soft hyphens, byte order marks,
// bidirectional controls), reads as the listed name to a person and as
// another name, or as a row of one-letter words, to a matcher. Normalize
// therefore drops the invisible characters and folds every letter to its
// skeleton as Unicode Technical Standard #39 defines it (Unicode's
// confusables.txt, applied by github.com/mtibben/confusables): two
// strings that look alike have the same skeleton. Both sides of every
// comparison, the list's names and the organisation's, are folded alike,
// so scores compare skeletons with skeletons. A name in its own script
// (Chinese, Russian, Greek) keeps matching the same name on the list: its
// skeleton is the same on both sides.
//
// The skeleton is for comparing only: it maps m to rn and 0 to o, and a
// Cyrillic name's skeleton mixes scripts. Findings quote names as
// written.

// ignorable reports the default-ignorable code points: those that display
// as nothing when a font has no glyph for them (Unicode's
// Default_Ignorable_Code_Point, DerivedCoreProperties.txt): format
// characters (category Cf: zero-width space and joiners U+200B–U+200D,
// the direction marks and overrides U+200E–U+200F and U+202A–U+202E, word
// joiner and invisible operators U+2060–U+2064, the byte order mark
// U+FEFF, the soft hyphen U+00AD, the tag characters U+E0000–U+E007F),
// the variation selectors, and the other default-ignorables (Hangul
// fillers, the combining grapheme joiner). None is a letter a person can
// see, so none may separate or change a name's words.
func ignorable(r rune) bool {
	if r < 0xAD {
		return false
	}
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Variation_Selector, r) ||
		unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// asciiSkel is each ASCII character's skeleton as screening uses it:
// lower case, a letter or digit ("m" is "rn", "0" is "o", "|" is "l"),
// a space for other punctuation, nothing for an apostrophe.
var asciiSkel = func() (t [utf8.RuneSelf]string) {
	for c := range rune(utf8.RuneSelf) {
		t[c] = fullSkeleton(strings.ToLower(string(c)), nil)
	}
	return t
}()

// cleanSkeleton lower-cases a skeleton and keeps letters and digits,
// reading other characters as a space (an apostrophe as nothing: it joins
// what it separates, as in Normalize), and dropping combining marks as
// fold does (dropMarks). It
// reports whether it lower-cased a letter or dropped a mark: the result
// may then fold further (ᗰ's skeleton is M, and m's is rn; ҙ's is ɜ with
// a mark, and ɜ's is 3). A letter of look (lookAlikeRunes) is written as
// the table says, as Normalize writes it before the skeleton.
func cleanSkeleton(s string, look map[rune]string) (string, bool) {
	var b strings.Builder
	b.Grow(len(s))
	again := false
	keep := false // a spacing mark here is kept, as dropMarks keeps it
	for _, r := range s {
		switch {
		case r == '\'':
		case keepsMark(r) && keep:
			b.WriteRune(r) // as fold keeps it (dropMarks)
			continue
		case unicode.Is(unicode.M, r):
			// Every other mark, as fold drops them.
			again = true
			continue
		case look[r] != "":
			b.WriteString(look[r])
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			lr := unicode.ToLower(r)
			again = again || lr != r
			b.WriteRune(lr)
			keep = marksKept(lr)
			continue
		default:
			b.WriteByte(' ')
		}
		keep = false
	}
	return b.String(), again
}

// fullSkeleton folds s until nothing changes (a few rounds at most), so
// that folding a folded name changes nothing.
// look is lookAlikeRunes, or nil while that table is built.
func fullSkeleton(s string, look map[rune]string) string {
	s, again := cleanSkeleton(confusables.Skeleton(s), look)
	for i := 0; again && i < 4; i++ {
		s, again = cleanSkeleton(confusables.Skeleton(s), look)
	}
	return s
}

// lookAlikeRunes maps the non-ASCII characters that look like ASCII
// letters or digits but which lower-casing and the skeleton would not fold
// to them: capital letters whose small form looks like no Latin letter
// (Cyrillic Н, Т, М, К, В; Greek Τ, Κ, Ν), whose skeleton is therefore
// taken before lower-casing, and symbols that look like a letter (∣ for
// l). A letter and its small form map alike, so that a name in capitals
// and the same name in small letters fold to one name, in any script.
// Built once, on first use, from the same table.
var lookAlikeRunes = sync.OnceValue(func() map[rune]string {
	m := map[rune]string{}
	for _, table := range []*unicode.RangeTable{unicode.Upper, unicode.Lt, unicode.P, unicode.S} {
		for _, r16 := range table.R16 {
			for r := rune(r16.Lo); r <= rune(r16.Hi); r += rune(r16.Stride) {
				addLookAlike(m, r)
			}
		}
		for _, r32 := range table.R32 {
			for r := rune(r32.Lo); r <= rune(r32.Hi); r += rune(r32.Stride) {
				addLookAlike(m, r)
			}
		}
	}
	// The skeleton writes some letters as small capitals (Cyrillic Ң
	// as ʜ): folded as Normalize folds them, a folded name folds to
	// itself.
	for r, v := range smallCapitals {
		m[r] = asciiSkelOf(v)
	}
	for r, v := range turnedLetters {
		m[r] = asciiSkelOf(v)
	}
	return m
})

func addLookAlike(m map[rune]string, r rune) {
	if r < utf8.RuneSelf || ignorable(r) {
		return
	}
	if !unicode.IsLetter(r) {
		if sk := confusables.Skeleton(string(r)); sk != string(r) && asciiAlnum(sk) {
			m[r] = asciiSkelOf(strings.ToLower(sk))
		}
		return
	}
	lower := unicode.ToLower(r)
	if asciiAlnum(fullSkeleton(string(lower), nil)) {
		// Its small form folds to Latin already; the capital, lower-cased
		// first, folds to the same.
		return
	}
	sk := confusables.Skeleton(string(r))
	if !asciiAlnum(sk) {
		return
	}
	// Capital I's skeleton is l (I and l look alike), but a capital that
	// looks like I is, in a name folded to lower case, an i.
	if sk == "l" {
		sk = "i"
	}
	v := asciiSkelOf(strings.ToLower(sk))
	m[r] = v
	if lower < utf8.RuneSelf {
		return
	}
	m[lower] = v
}

func asciiAlnum(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func asciiSkelOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteString(asciiSkel[s[i]])
	}
	return b.String()
}

// skeleton folds a lower-cased name's look-alike letters: its UTS #39
// skeleton, cleaned (fullSkeleton). An ASCII name needs no normalisation
// form and is folded by table.
func skeleton(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return fullSkeleton(s, lookAlikeRunes())
		}
	}
	return asciiSkelOf(s)
}

// scriptGroups are the scripts a word is checked against for mixing:
// Latin and the scripts with letters that look like Latin ones, and the
// others a legal name is commonly written in. Han, kana and Hangul are
// one group: Japanese mixes them in one word.
var scriptGroups = [][]*unicode.RangeTable{
	{unicode.Latin}, {unicode.Cyrillic}, {unicode.Greek}, {unicode.Armenian}, {unicode.Cherokee},
	{unicode.Coptic}, {unicode.Georgian}, {unicode.Hebrew}, {unicode.Arabic}, {unicode.Devanagari},
	{unicode.Thai}, {unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul, unicode.Bopomofo},
}

// mixesScripts reports whether a word of the name has letters of two
// scripts (Latin and Cyrillic, say): no honest spelling does that, and it
// is how look-alike letters are slipped into a name.
func mixesScripts(name string) bool {
	group := -1
	for _, r := range name {
		if ignorable(r) {
			continue
		}
		if !unicode.IsLetter(r) && !unicode.Is(unicode.M, r) {
			group = -1 // a new word
			continue
		}
		if r < utf8.RuneSelf {
			if group >= 0 && group != 0 {
				return true
			}
			group = 0
			continue
		}
		for g, tables := range scriptGroups {
			if unicode.In(r, tables...) {
				if group >= 0 && group != g {
					return true
				}
				group = g
				break
			}
		}
	}
	return false
}

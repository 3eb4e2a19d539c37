package screen

import (
	"regexp"
	"strings"

	"testing"

	"golang.org/x/text/unicode/runenames"

	"meridian.dev/meridian/catalog"
)

// TestSmallCapitalNames: a listed party's name written in Latin small
// capitals (ᴇxᴀᴍᴘʟᴇ, U+1D00 and the like) reads as the name in capitals,
// but Unicode neither lower-cases nor decomposes those letters and the
// skeleton does not fold them: the name was another name, and screened
// none. Each now matches its entry as the name in capitals does, and an
// unrelated name in small capitals still matches nothing.
func TestSmallCapitalNames(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample.csv")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hq, legal, entry string
	}{
		{"CN", "ᴇxᴀᴍᴘʟᴇ ᴀᴅᴠᴀɴᴄᴇᴅ ᴄᴏᴍᴘᴜᴛɪɴɢ", "Example Advanced Computing Co., Ltd."},
		{"CN", "ɴᴏʀᴛʜᴡɪɴᴅ ꜱᴜᴘᴇʀᴄᴏᴍᴘᴜᴛɪɴɢ ᴄᴇɴᴛᴇʀ", "Northwind Supercomputing Center"},
		{"CN", "ᴇxᴀᴄ", "Example Advanced Computing Co., Ltd."},
		{"AE", "ʙʟᴜᴇᴡᴀᴛᴇʀ ᴛʀᴀᴅɪɴɢ ʟʟᴄ", "BLUEWATER TRADING LLC"},
		{"RU", "Red Sᴛᴀʀ Aᴠɪᴏɴɪᴄꜱ Iɴꜱᴛɪᴛᴜᴛᴇ", "Red Star Avionics Institute"},
		{"FR", "ʟᴀʙᴏʀᴀᴛᴏɪʀᴇ ᴘʀᴏᴘʀᴇ ꜱᴀꜱ", ""},
	} {
		screensExact(t, s, c.hq, c.legal, c.entry)
	}
	for r, want := range smallCapitals {
		if got, w := Normalize(string(r)+"x"), Normalize(want+"x"); got != w {
			t.Errorf("%U x normalised is %q, want %q", r, got, w)
		}
	}
}

// TestParenthesizedLetterNames: a name written in parenthesized letters
// (⒠⒳⒜⒞, U+249C and the like) was decomposed to "(e)(x)(a)(c)", four
// words of one letter, and the listed alias EXAC screened none, where the
// circled ⓔⓧⓐⓒ matched. Each is now read as its letter.
func TestParenthesizedLetterNames(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample.csv")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hq, legal, entry string
	}{
		{"CN", "⒠⒳⒜⒞", "Example Advanced Computing Co., Ltd."},
		{"CN", "🄔🄧🄐🄒", "Example Advanced Computing Co., Ltd."},
		{"CN", "⒩⒪⒭⒯⒣⒲⒤⒩⒟ Supercomputing Center", "Northwind Supercomputing Center"},
		{"FR", "⒧⒜⒝⒪⒭⒜⒯⒪⒤⒭⒠ ⒫⒭⒪⒫⒭⒠", ""},
	} {
		screensExact(t, s, c.hq, c.legal, c.entry)
	}
}

// screensExact checks that an organisation headquartered in hq with legal
// name legal matches the list entry named entry exactly, or, with entry
// "", nothing.
func screensExact(t *testing.T, s *Store, hq, legal, entry string) {
	t.Helper()
	res, err := s.Screen("", org("o", hq, legal))
	if err != nil {
		t.Fatal(err)
	}
	r := res[0]
	if entry == "" {
		if r.Status != catalog.RestrictedNone {
			t.Errorf("%q, on no list, screened %s: %s", legal, r.Status, r.Source)
		}
		return
	}
	if r.Status == catalog.RestrictedNone || len(r.Matches) == 0 || r.Matches[0].Entry.Name != entry || r.Matches[0].Kind != Exact {
		t.Errorf("%q screened %s (%s), want an exact match with %q", legal, r.Status, r.Source, entry)
	}
}

// TestTurnedLetterNames: a listed party's name written with turned or
// reversed letters (EXAↃ with a reversed C, ɔ for c, ɥ for h) reads as
// the name to a person, but Unicode neither lower-cases nor decomposes
// those letters and the skeleton leaves most as they are: the name came
// only as close as the fuzzy score put it. Each is now read as its
// letter; an unrelated name written so still matches nothing.
func TestTurnedLetterNames(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample.csv")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		hq, legal, entry string
	}{
		{"CN", "EXAↃ", "Example Advanced Computing Co., Ltd."},
		{"CN", "ǝxɐɔ", "Example Advanced Computing Co., Ltd."},
		{"CN", "Nᴏʀʇɥʍinᴅ Supǝɹɔoɯpuʇinᵷ Ↄenʇǝɹ", "Northwind Supercomputing Center"},
		{"AE", "BꞀUEWAꞱER ꞱRADING LLC", "BLUEWATER TRADING LLC"},
		{"FR", "ꞁɐboɹɐʇoiɹǝ ɯoǝɹ", ""},
	} {
		screensExact(t, s, c.hq, c.legal, c.entry)
	}
}

// TestTurnedLettersAreEveryNamedOne checks turnedLetters against
// Unicode's names: every character named as a turned, reversed or
// inverted form of a letter A to Z (modifier letters included, which
// decompose to one) normalises as that letter does, so a letter a later
// Unicode version names is not missed in silence.
func TestTurnedLettersAreEveryNamedOne(t *testing.T) {
	named := regexp.MustCompile(`^(?:LATIN |MODIFIER )?(?:(?:SMALL |CAPITAL |EPIGRAPHIC )?LETTER )?(?:SMALL CAPITAL |SMALL |CAPITAL )?(?:TURNED|REVERSED|INVERTED) (?:SANS-SERIF )?(?:SMALL |CAPITAL )?([A-Z])$`)
	seen := 0
	for r := rune(0x80); r <= 0x1FFFF; r++ {
		m := named.FindStringSubmatch(runenames.Name(r))
		if m == nil {
			continue
		}
		seen++
		want := Normalize("x" + strings.ToLower(m[1]) + "x")
		if got := Normalize("x" + string(r) + "x"); got != want {
			t.Errorf("%U %c (%s) normalises as %q, want %q", r, r, runenames.Name(r), got, want)
		}
	}
	if seen < len(turnedLetters)-5 {
		t.Fatalf("only %d characters named as turned letters; the name table looks wrong", seen)
	}
}

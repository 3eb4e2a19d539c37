package screen

import (
	"testing"

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

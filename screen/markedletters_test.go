package screen

import (
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestMarkedLettersMatch: a listed party's name written with a combining
// mark after each letter of a word reads as the name to a person: an
// enclosing circle or keycap (Me, U+20DD, U+20E3), a Cyrillic millions
// sign (Me, U+0489, U+A670) or a spacing mark (Mc, U+0903). Only the
// non-spacing marks (Mn) were dropped; these were read as spaces, and the
// word as letters one apart that were never joined, since the marks
// counted as part of each: "Holdfield Dynamics" so written screened none.
func TestMarkedLettersMatch(t *testing.T) {
	l := &List{Entries: []Entry{{ID: "h1", List: "EL", Source: "EL", Name: "Holdfield Dynamics", Addresses: []Address{{Country: "CN"}}}}}
	for _, mark := range []string{"\u20dd", "\u20e3", "\u0489", "\ua670", "\u0903", "\u20dd\u0903"} {
		name := marked("Holdfield", mark) + " Dynamics"
		r := Screen("", org("o", "CN", name), l, nil)
		if len(r.Matches) == 0 || r.Matches[0].Entry.ID != "h1" || r.Status != catalog.RestrictedEntityList {
			t.Errorf("%q (mark %+q): %s (%s), want the entity list", name, mark, r.Status, r.Source)
		}
	}
	if r := Screen("", org("o", "CN", "Holdfield Dynamics"), l, nil); r.Status != catalog.RestrictedEntityList {
		t.Fatalf("the plain name: %s (%s)", r.Status, r.Source)
	}
}

// TestSpacedLettersJoinedAsNormalized: letters spaced apart by a
// character that is a letter as written but a space once folded (U+1427,
// CANADIAN SYLLABICS FINAL MIDDLE DOT, whose skeleton is a middle dot)
// were one word to joinSpacedLetters, which read the text as written, and
// one-letter words to the matcher: "Hᐧoᐧlᐧdᐧfᐧiᐧeᐧlᐧd Dynamics" screened
// none. The letters are now joined as screening reads the words.
func TestSpacedLettersJoinedAsNormalized(t *testing.T) {
	l := &List{Entries: []Entry{{ID: "h1", List: "EL", Source: "EL", Name: "Holdfield Dynamics", Addresses: []Address{{Country: "CN"}}}}}
	for _, name := range []string{
		"H\u1427o\u1427l\u1427d\u1427f\u1427i\u1427e\u1427l\u1427d Dynamics",
		"H\u1427o\u1427l\u1427d\u1427f\u1427i\u1427e\u1427l\u1427d D\u1427y\u1427n\u1427a\u1427m\u1427i\u1427c\u1427s",
		"H\u00b7o\u00b7l\u00b7d\u00b7f\u00b7i\u00b7e\u00b7l\u00b7d Dynamics",
		"H o l d f i e l d Dynamics",
	} {
		r := Screen("", org("o", "CN", name), l, nil)
		if len(r.Matches) == 0 || r.Matches[0].Entry.ID != "h1" || r.Status == catalog.RestrictedNone || !r.Matches[0].SpacedLetters {
			t.Errorf("%q: %s (%s), want a match with its spaced letters joined", name, r.Status, r.Source)
		}
	}
}

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

// TestShortChunksJoined: a listed name spaced in chunks of two or three
// letters ("Ho ld fi el d Dy na mi cs") is no run of one-letter words,
// and its words came near no listed name's: it screened none, where the
// chunks joined score 0.98 and more against the listed name. A name most
// of whose words are that short is compared with all of them joined too,
// as a possible match, never an exact one; a name of ordinary words, or
// with one short word among them, is not.
func TestShortChunksJoined(t *testing.T) {
	l := &List{Entries: []Entry{
		{ID: "h1", List: "EL", Source: "EL", Name: "Holdfield Dynamics", Addresses: []Address{{Country: "CN"}}},
		{ID: "n1", List: "EL", Source: "EL", Name: "Northwind Supercomputing Center", Addresses: []Address{{Country: "CN"}}},
	}}
	for _, c := range []struct{ name, entry string }{
		{"Ho ld fi el d Dy na mi cs", "h1"},
		{"Hol dfi eld Dyn ami cs Co., Ltd.", "h1"},
		{"Nor thw ind Sup erc omp uti ng Cen ter", "n1"},
		{"Но лд фи ел д Ды на ми кс", "h1"},
		// Legal forms and ordinary words anywhere, not only at the end.
		{"The Ho ld fi el d Dy na mi cs", "h1"},
		{"OOO AO Ho ld fi el d Dy na mi cs", "h1"},
		{"Hol dfi eld Global Dyn ami cs Co Ltd", "h1"},
		{"Ho ld fi el d Global Dy na mi cs", "h1"},
	} {
		r := Screen("", org("o", "CN", c.name), l, nil)
		if len(r.Matches) == 0 || r.Matches[0].Entry.ID != c.entry || r.Status != catalog.RestrictedUndetermined || r.Matches[0].Kind != Possible ||
			!r.Matches[0].SpacedLetters {
			t.Errorf("%q: %s (%s), want a possible match with %s, its chunks joined", c.name, r.Status, r.Source, c.entry)
		}
	}
	for _, name := range []string{"Holm Field Dyes Co", "Ace Art Lab and Co", "Nor Tech Industries", "The Ace Co Ltd Dynamic Holdings"} {
		if r := Screen("", org("o", "CN", name), l, nil); r.Status != catalog.RestrictedNone {
			t.Errorf("an unrelated name %q: %s (%s)", name, r.Status, r.Source)
		}
	}
}

// TestSpacingVowelSignsKept: the spacing vowel signs (Mc) of Devanagari,
// Tamil, Sinhala, Khmer and Myanmar are letters in effect. Dropped with
// every other mark, "भारती" and a listed "भरत" were one name, an exact
// match of a different name. Only a spacing mark on a Latin, Greek,
// Cyrillic or common base (the marked letters above) is dropped.
func TestSpacingVowelSignsKept(t *testing.T) {
	l := &List{Entries: []Entry{{ID: "b1", List: "EL", Source: "EL", Name: "भरत", Addresses: []Address{{Country: "IN"}}}}}
	r := Screen("", org("o", "IN", "भारती"), l, nil)
	for _, m := range r.Matches {
		if m.Kind == Exact {
			t.Fatalf("भारती: an exact match of %q (%s)", m.Entry.Name, r.Status)
		}
	}
	if r := Screen("", org("o", "IN", "भरत"), l, nil); len(r.Matches) == 0 || r.Matches[0].Kind != Exact {
		t.Fatalf("the listed name itself: %s (%s)", r.Status, r.Source)
	}
	if Normalize("भारती") == Normalize("भरत") {
		t.Errorf("भारती and भरत normalise alike: %q", Normalize("भरत"))
	}
}

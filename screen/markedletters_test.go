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

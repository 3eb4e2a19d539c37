package screen

import (
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestChunkedNamesMatch: a listed party's name split into chunks of four
// letters or more ("Holdf ield Dyna mics"), or with a long word before
// chunks ("Global Ho ld fi el d"), came near no listed name's words and
// was joined by no rule (joinShortWords joins chunks of three letters or
// fewer only): it screened none. A name whose words, run together, are a
// listed name's words run together is now a possible match, held for a
// person, whatever its chunks' lengths; never an exact one.
func TestChunkedNamesMatch(t *testing.T) {
	l := &List{Entries: []Entry{
		{ID: "h1", List: "EL", Source: "EL", Name: "Holdfield Dynamics", Addresses: []Address{{Country: "CN"}}},
		{ID: "g1", List: "EL", Source: "EL", Name: "Global Holdfield Trading", Addresses: []Address{{Country: "CN"}}},
		{ID: "n1", List: "SDN", Source: "SDN", Name: "Northwind Supercomputing Center", AltNames: []string{"Northwind Supercomputing"}, Addresses: []Address{{Country: "CN"}}},
	}}
	for _, c := range []struct{ name, id string }{
		{"Holdf ield Dyna mics", "h1"},
		{"Hold field Dynam ics", "h1"},
		{"H oldf ield D ynam ics", "h1"},
		{"Holdfi eldDynamics", "h1"},
		{"HoldfieldDynamics Co., Ltd.", "h1"},
		{"Global Ho ld fi el d Trading", "g1"},
		{"Glo balHold fieldTra ding", "g1"},
		{"North windSuper computing", "n1"},
	} {
		r := Screen("", org("o", "CN", c.name), l, nil)
		if len(r.Matches) == 0 || r.Matches[0].Entry.ID != c.id || r.Status != catalog.RestrictedUndetermined || r.Matches[0].Kind != Possible || r.Matches[0].Score != 1 {
			t.Errorf("%q: %s (%s), %+v; want a possible match with %s, held for a person", c.name, r.Status, r.Source, r.Matches, c.id)
		}
	}
	// Ordinary names whose letters differ are not held by it.
	for _, name := range []string{"Holdfast Dynamics Partners", "Northwind Traders", "Global Trading House", "Harbor Logistics Partners"} {
		if r := Screen("", org("o", "CN", name), l, nil); r.Status != catalog.RestrictedNone {
			t.Errorf("%q: %s (%s), %+v; want none", name, r.Status, r.Source, r.Matches)
		}
	}
}

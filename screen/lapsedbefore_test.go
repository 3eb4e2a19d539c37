package screen

import (
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestDismissalLapsedBeforeAnEarlierImportStaysLapsed: a dismissal that
// lapsed at an earlier import (its entry changed, so its hash is no
// longer the entry's) is never carried over to the entry's hash by a
// later import, however the feed republishes the changed entry, and is
// never shown as applying: each screening after shows the match again,
// the dismissal as lapsed. This holds for a dismissal recorded with an
// earlier hash of the entry (which an import carries over only when the
// stored list holds the entry exactly as dismissed: rekey) and for one
// recorded with the hash now. A person's new dismissal of the entry as
// it is applies, and the lapsed one is not carried over after it either.
func TestDismissalLapsedBeforeAnEarlierImportStaysLapsed(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return now }}
	lab := org("example-lab", "DE", "Example Lab")
	nw := org("northwind", "DE", "Northwind Avionics")
	imp := func(recs ...map[string]any) []Decision {
		t.Helper()
		_, carried, err := s.ImportWith("consolidated.json", cslJSON(t, recs...), ImportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return carried
	}
	screen := func(o *catalog.Organization) Result {
		t.Helper()
		r, err := s.Screen("", o)
		if err != nil {
			t.Fatal(err)
		}
		return r[0]
	}
	lapsedShown := func(when string, o *catalog.Organization) {
		t.Helper()
		r := screen(o)
		if r.Status == catalog.RestrictedNone || len(r.Matches) != 1 || r.Matches[0].Decision != nil || r.Matches[0].Lapsed == nil ||
			!strings.Contains(r.Source, "changed since the dismissal") {
			t.Errorf("%s, %s: %s (%s), want the match shown again, the dismissal lapsed", when, o.Metadata.Name, r.Status, r.Source)
		}
	}
	e1 := func(name string, alt ...string) map[string]any { return cslRecord("e1", elSource, name, alt, "CN") }
	e2 := func(name string, alt ...string) map[string]any { return cslRecord("e2", elSource, name, alt, "CN") }

	imp(e1("Exampel Lab Co., Ltd."), e2("Northwind Avionix"))
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	at := now
	// The lab's dismissal as an earlier version recorded it (the hash of
	// every field as written), northwind's as this one does.
	ds := []Decision{
		{Org: lab.Metadata.Name, Tenant: catalog.DefaultTenant, Fingerprint: Fingerprint(lab), EntryID: "e1", Entry: "EL " + list.Entries[0].Name,
			Action: Dismiss, By: "a.person", Reason: "other company", Time: at, ListSHA256: list.SHA256, EntrySHA256: list.Entries[0].contentHashV1()},
		{Org: nw.Metadata.Name, Tenant: catalog.DefaultTenant, Fingerprint: Fingerprint(nw), EntryID: "e2", Entry: "EL " + list.Entries[1].Name,
			Action: Dismiss, By: "a.person", Reason: "other company", Time: at, ListSHA256: list.SHA256, EntrySHA256: list.Entries[1].ContentHash()},
	}
	for _, o := range []*catalog.Organization{lab, nw} {
		if r := screen(o); r.Status != catalog.RestrictedUndetermined {
			t.Fatalf("the fixture's possible match of %s: %s (%s)", o.Metadata.Name, r.Status, r.Source)
		}
	}

	// Both entries gain the organisations' names as aliases, in an import
	// made before the decisions file held the dismissals (as by a version
	// that carried nothing over): both dismissals lapse.
	now = now.AddDate(0, 0, 1)
	imp(e1("Exampel Lab Co., Ltd.", "Example Lab"), e2("Northwind Avionix", "Northwind Avionics"))
	if err := s.writeDecisions(ds); err != nil {
		t.Fatal(err)
	}
	lapsedShown("after the import that changed the entries", lab)
	lapsedShown("after the import that changed the entries", nw)

	// Later imports: the changed entries republished in capitals, then
	// as they are; neither dismissal is carried over, both stay lapsed.
	for i, recs := range [][]map[string]any{
		{e1("EXAMPEL LAB CO, LTD", "EXAMPLE LAB"), e2("NORTHWIND AVIONIX", "NORTHWIND AVIONICS")},
		{e1("Exampel Lab Co., Ltd.", "Example Lab"), e2("Northwind Avionix", "Northwind Avionics")},
	} {
		now = now.AddDate(0, 0, 1)
		if carried := imp(recs...); len(carried) != 0 {
			t.Errorf("import %d after the dismissals lapsed carried %+v over, want none", i+1, carried)
		}
		lapsedShown("after a later import", lab)
		lapsedShown("after a later import", nw)
	}
	if got, err := s.Decisions(); err != nil || len(got) != len(ds) {
		t.Errorf("decisions after the later imports: %+v %v, want the %d recorded, none carried over", got, err, len(ds))
	}

	// A person dismisses the lab's match again, the entry as it is: that
	// applies, and the next import carries nothing over.
	if _, err := s.Decide("", lab, "e1", Dismiss, "c.person", "checked again: other company"); err != nil {
		t.Fatal(err)
	}
	now = now.AddDate(0, 0, 1)
	if carried := imp(e1("Exampel Lab Co., Ltd.", "Example Lab"), e2("Northwind Avionix", "Northwind Avionics")); len(carried) != 0 {
		t.Errorf("the import after the new dismissal carried %+v over, want none", carried)
	}
	if r := screen(lab); r.Status != catalog.RestrictedNone || !strings.Contains(r.Source, "dismissed by c.person") {
		t.Errorf("after the new dismissal: %s (%s)", r.Status, r.Source)
	}
	lapsedShown("after the lab's new dismissal", nw)
}

package screen

import (
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// cslJSON is a CSL bulk file in the published JSON format holding recs.
func cslJSON(t *testing.T, recs ...map[string]any) []byte {
	t.Helper()
	data, err := json.Marshal(map[string]any{"results": recs})
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func cslRecord(id, source, name string, alt []string, countries ...string) map[string]any {
	var addrs []map[string]any
	for _, c := range countries {
		addrs = append(addrs, map[string]any{"address": "1 Harbour Road", "city": "Somewhere", "country": c})
	}
	return map[string]any{"id": id, "source": source, "name": name, "alt_names": alt, "addresses": addrs, "programs": []string{"EAR"}}
}

const elSource = "Entity List (EL) - Bureau of Industry and Security"

// TestDismissalLapsesWhenTheEntryChanges: a dismissal made against one
// revision of the list kept clearing the organisation after a later
// import changed the entry it dismissed (here, an alias equal to the
// organisation's name, then an address in its country): it no longer
// applies, and the match is shown for review again, saying the entry
// changed since the dismissal; a new dismissal of the entry as it is
// applies. An import that changes other entries only keeps it. A
// confirmation applies whatever the entry became, and a dismissal
// recorded before entries were hashed applies as it did.
func TestDismissalLapsesWhenTheEntryChanges(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return now }}
	lab := org("example-lab", "DE", "Example Lab")
	nw := org("northwind", "DE", "Northwind Avionics")
	e1 := func(alt []string, countries ...string) map[string]any {
		return cslRecord("e1", elSource, "Exampel Lab", alt, countries...)
	}
	e3 := func(countries ...string) map[string]any {
		return cslRecord("e3", elSource, "Northwind Avionix", nil, countries...)
	}
	other := cslRecord("e2", elSource, "Polar Quartz Systems", nil, "CN")
	imp := func(recs ...map[string]any) {
		t.Helper()
		if _, err := s.Import("consolidated.json", cslJSON(t, recs...)); err != nil {
			t.Fatal(err)
		}
	}
	screen := func(o *catalog.Organization) Result {
		t.Helper()
		r, err := s.Screen("", o)
		if err != nil {
			t.Fatal(err)
		}
		return r[0]
	}

	imp(e1(nil, "CN"), e3("CN"))
	if r := screen(lab); r.Status != catalog.RestrictedUndetermined || len(r.Matches) != 1 || r.Matches[0].Entry.ID != "e1" {
		t.Fatalf("the fixture's possible match: %s (%s)", r.Status, r.Source)
	}
	d, err := s.Decide("", lab, "e1", Dismiss, "a.person", "other register number")
	if err != nil {
		t.Fatal(err)
	}
	if d.EntrySHA256 == "" {
		t.Fatal("the dismissal records no hash of the entry")
	}
	if _, err := s.Decide("", nw, "e3", Confirm, "b.person", "same company"); err != nil {
		t.Fatal(err)
	}
	if r := screen(lab); r.Status != catalog.RestrictedNone || !strings.Contains(r.Source, "dismissed by a.person") {
		t.Fatalf("after the dismissal: %s (%s)", r.Status, r.Source)
	}

	// Another entry added: the entry dismissed is the same, and so is
	// the dismissal.
	now = now.AddDate(0, 0, 1)
	imp(e1(nil, "CN"), other, e3("CN"))
	if r := screen(lab); r.Status != catalog.RestrictedNone {
		t.Errorf("after an import that left the entry as it was: %s (%s)", r.Status, r.Source)
	}

	// The entry gains the organisation's name as an alias.
	imp(e1([]string{"Example Lab"}, "CN"), other, e3("CN", "AE"))
	r := screen(lab)
	if r.Status != catalog.RestrictedUndetermined || !strings.Contains(r.Source, "dismissed by a.person on 2026-03-01, but the entry has changed since the dismissal") ||
		len(r.Matches) != 1 || r.Matches[0].Decision != nil || r.Matches[0].Lapsed == nil {
		t.Errorf("after the entry gained the organisation's name: %s (%s)", r.Status, r.Source)
	}
	if r := screen(nw); r.Status != catalog.RestrictedEntityList || !strings.Contains(r.Source, "confirmed by b.person") {
		t.Errorf("a confirmation after its entry changed: %s (%s)", r.Status, r.Source)
	}

	// And an address in its country: an exact match, the dismissal of the
	// entry as it was no help.
	imp(e1([]string{"Example Lab"}, "CN", "DE"), other, e3("CN", "AE"))
	r = screen(lab)
	if r.Status != catalog.RestrictedEntityList || !strings.Contains(r.Source, "exact match") || !strings.Contains(r.Source, "changed since the dismissal") {
		t.Errorf("after the entry gained the organisation's name and country: %s (%s)", r.Status, r.Source)
	}

	// A person dismisses the entry as it is now: that applies.
	if _, err := s.Decide("", lab, "e1", Dismiss, "c.person", "checked again: other company"); err != nil {
		t.Fatal(err)
	}
	if r := screen(lab); r.Status != catalog.RestrictedNone || !strings.Contains(r.Source, "dismissed by c.person on 2026-03-02") {
		t.Errorf("after a dismissal of the changed entry: %s (%s)", r.Status, r.Source)
	}

	// A decisions file written before entries were hashed: its dismissal
	// has no entrySha256, and applies whatever the entry became.
	old := `{"decisions": [{"org": "example-lab", "entryId": "e1", "entry": "EL Exampel Lab", "action": "dismiss",
		"by": "d.person", "reason": "checked", "time": "2025-01-01T00:00:00Z", "listSha256": "0ld"}]}`
	if err := os.WriteFile(s.DecisionsPath(), []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := screen(org("example-lab", "FR", "Example Lab")); r.Status != catalog.RestrictedNone || !strings.Contains(r.Source, "dismissed by d.person") {
		t.Errorf("a dismissal recorded without the entry's hash: %s (%s)", r.Status, r.Source)
	}
}

// TestEntryContentHashReadsEveryField: the hash a decision records
// changes with every field of the entry and of its addresses, and is the
// same for the entry as the list file stores it and reads it back.
func TestEntryContentHashReadsEveryField(t *testing.T) {
	base := Entry{ID: "e1", List: "EL", Name: "Example", AltNames: []string{"Ex"}, Addresses: []Address{{Country: "CN"}}, Programs: []string{"EAR"}}
	seen := map[string]string{base.ContentHash(): "the base entry"}
	vary := func(what string, e Entry) {
		h := e.ContentHash()
		if prev, ok := seen[h]; ok {
			t.Errorf("%s: the same hash as %s", what, prev)
		}
		seen[h] = what
	}
	et := reflect.TypeOf(base)
	for i := range et.NumField() {
		f := et.Field(i)
		e := base
		e.AltNames, e.Programs, e.Addresses = append([]string(nil), base.AltNames...), append([]string(nil), base.Programs...), append([]Address(nil), base.Addresses...)
		v := reflect.ValueOf(&e).Elem().Field(i)
		switch f.Type.Kind() {
		case reflect.String:
			v.SetString(v.String() + "x")
		case reflect.Slice:
			if f.Type.Elem().Kind() == reflect.String {
				v.Set(reflect.Append(v, reflect.ValueOf("x")))
			} else {
				for j := range f.Type.Elem().NumField() {
					e2 := e
					e2.Addresses = append([]Address(nil), base.Addresses...)
					a := reflect.ValueOf(&e2.Addresses[0]).Elem().Field(j)
					a.SetString(a.String() + "x")
					vary(f.Name+"."+f.Type.Elem().Field(j).Name, e2)
				}
				v.Set(reflect.Append(v, reflect.ValueOf(Address{})))
			}
		default:
			t.Fatalf("field %s of kind %s: ContentHash's test does not vary it", f.Name, f.Type.Kind())
		}
		vary(f.Name, e)
	}
	// Words moved from one field to the next are another entry.
	vary("a name split differently", Entry{ID: "e1", List: "EL", Name: "Exam", AltNames: []string{"pleEx"}, Addresses: base.Addresses, Programs: base.Programs})
	data, err := json.Marshal(base)
	if err != nil {
		t.Fatal(err)
	}
	var back Entry
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if back.ContentHash() != base.ContentHash() {
		t.Error("the entry read back from the list file hashes differently")
	}
}

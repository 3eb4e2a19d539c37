package screen

import (
	"errors"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestOldHashDismissalCarriedOver: a dismissal recorded with an earlier
// hash of its entry (contentHashV2, contentHashV1, which read the text as
// written) held while the entry was exactly as dismissed, and lapsed when
// the feed republished it in capitals or other punctuation, which the
// current hash ignores. An import that finds the entry in the stored list
// still as dismissed carries the dismissal over to the current hash (a
// copy appended, saying from which hash, the person's decision kept), so
// that it survives the republication and the ones after it. A dismissal
// of an entry that has changed since, a dismissal a later confirmation
// overrides, and one of an entry that changes in the same import are
// never carried over to the entry as it is.
func TestOldHashDismissalCarriedOver(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return now }}
	lab := org("example-lab", "DE", "Example Lab")
	nw := org("northwind", "DE", "Northwind Avionics")
	polar := org("polar", "DE", "Polar Quartz")
	delta := org("delta", "DE", "Delta Dynamics")
	rec := func(id, name string, alt []string, countries ...string) map[string]any {
		return cslRecord(id, elSource, name, alt, countries...)
	}
	imp := func(recs ...map[string]any) *List {
		t.Helper()
		l, err := s.Import("consolidated.json", cslJSON(t, recs...))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	screen := func(o *catalog.Organization) Result {
		t.Helper()
		r, err := s.Screen("", o)
		if err != nil {
			t.Fatal(err)
		}
		return r[0]
	}
	l := imp(rec("e1", "Exampel Lab Co., Ltd.", []string{"Exampel Laboratory"}, "CN"), rec("e2", "Northwind Avionix", nil, "CN"),
		rec("e3", "Polar Quartzz", nil, "CN"), rec("e4", "Delta Dynamix", nil, "CN"))
	byID := map[string]*Entry{}
	for i := range l.Entries {
		byID[l.Entries[i].ID] = &l.Entries[i]
	}
	at := now.AddDate(0, 0, -30)
	dismissal := func(o *catalog.Organization, id, hash string) Decision {
		return Decision{Org: o.Metadata.Name, Tenant: catalog.DefaultTenant, Fingerprint: Fingerprint(o), EntryID: id, Entry: "EL " + byID[id].Name,
			Action: Dismiss, By: "a.person", Reason: "other company", Time: at, ListSHA256: l.SHA256, EntrySHA256: hash}
	}
	// As an earlier version recorded them: e1 and e3 with the second hash,
	// e2 with the first; e2's then overridden by a confirmation; e4's
	// against the entry as it was before (it has changed since).
	recorded := []Decision{
		dismissal(lab, "e1", byID["e1"].contentHashV2()),
		dismissal(nw, "e2", byID["e2"].contentHashV1()),
		dismissal(polar, "e3", byID["e3"].contentHashV1()),
		dismissal(delta, "e4", "an-earlier-version-of-e4"),
	}
	confirm := dismissal(nw, "e2", byID["e2"].ContentHash())
	confirm.Action, confirm.By, confirm.Time = Confirm, "b.person", at.Add(time.Hour)
	recorded = append(recorded, confirm)
	if err := s.writeDecisions(recorded); err != nil {
		t.Fatal(err)
	}
	for _, o := range []*catalog.Organization{lab, polar} {
		if r := screen(o); r.Status != catalog.RestrictedNone {
			t.Fatalf("%s, dismissed with an earlier hash, the entry as it was: %s (%s)", o.Metadata.Name, r.Status, r.Source)
		}
	}

	// Republished in capitals and other punctuation; e3 gains an alias
	// equal to the organisation's name in the same import.
	now = now.AddDate(0, 0, 1)
	capitals := []map[string]any{rec("e1", "EXAMPEL LAB CO, LTD", []string{"EXAMPEL LABORATORY"}, "CN"), rec("e2", "NORTHWIND AVIONIX", nil, "CN"),
		rec("e3", "POLAR QUARTZZ", []string{"Polar Quartz"}, "CN"), rec("e4", "DELTA DYNAMIX", nil, "CN")}
	imp(capitals...)
	if r := screen(lab); r.Status != catalog.RestrictedNone || len(r.Matches) != 1 || r.Matches[0].Decision == nil || !strings.Contains(r.Source, "dismissed by a.person on "+at.Format("2006-01-02")) {
		t.Errorf("a dismissal recorded with an earlier hash, after the entry was republished in capitals: %s (%s)", r.Status, r.Source)
	}
	if r := screen(nw); r.Status != catalog.RestrictedEntityList || !strings.Contains(r.Source, "confirmed by b.person") {
		t.Errorf("a confirmation after an earlier dismissal: %s (%s)", r.Status, r.Source)
	}
	if r := screen(polar); r.Status == catalog.RestrictedNone || len(r.Matches) == 0 || r.Matches[0].Lapsed == nil {
		t.Errorf("a dismissal of an entry that gained the organisation's name: %s (%s)", r.Status, r.Source)
	}
	if r := screen(delta); r.Status != catalog.RestrictedUndetermined || len(r.Matches) == 0 || r.Matches[0].Lapsed == nil {
		t.Errorf("a dismissal of an entry changed before: %s (%s)", r.Status, r.Source)
	}
	ds, err := s.Decisions()
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != len(recorded)+2 {
		t.Fatalf("decisions after the import: %d, want the %d recorded and e1's and e3's carried over: %+v", len(ds), len(recorded), ds)
	}
	for i, want := range recorded {
		if ds[i].Rekeyed != nil || ds[i].EntrySHA256 != want.EntrySHA256 {
			t.Errorf("the decision recorded %d was rewritten: %+v", i, ds[i])
		}
	}
	for _, c := range []struct {
		d    Decision
		from string
	}{{ds[len(recorded)], recorded[0].EntrySHA256}, {ds[len(recorded)+1], recorded[2].EntrySHA256}} {
		if c.d.Rekeyed == nil || c.d.Rekeyed.From != c.from || c.d.Rekeyed.ListSHA256 != l.SHA256 || !c.d.Rekeyed.At.Equal(now) ||
			c.d.EntrySHA256 != byID[c.d.EntryID].ContentHash() || c.d.By != "a.person" || !c.d.Time.Equal(at) {
			t.Errorf("the dismissal of %s carried over: %+v %+v", c.d.EntryID, c.d, c.d.Rekeyed)
		}
	}

	// Later republications keep it, and carry nothing over again.
	now = now.AddDate(0, 0, 1)
	capitals[0] = rec("e1", "Exampel lab co ltd", []string{"exampel laboratory"}, "CN")
	imp(capitals...)
	if r := screen(lab); r.Status != catalog.RestrictedNone {
		t.Errorf("after a second republication: %s (%s)", r.Status, r.Source)
	}
	if ds, _ := s.Decisions(); len(ds) != len(recorded)+2 {
		t.Errorf("decisions after a second import: %d, want %d", len(ds), len(recorded)+2)
	}
	// A change screening reads still lapses it.
	capitals[0] = rec("e1", "Exampel Lab Co., Ltd.", []string{"Exampel Laboratory", "Example Lab"}, "CN")
	imp(capitals...)
	if r := screen(lab); r.Status != catalog.RestrictedUndetermined || len(r.Matches) == 0 || r.Matches[0].Lapsed == nil {
		t.Errorf("after the entry gained the organisation's name: %s (%s)", r.Status, r.Source)
	}
}

// TestCarriedOverRecordedFirst: the dismissals an import carries over are
// handed to ImportOptions.Record before anything is written; an error of
// it imports nothing (the decisions and the list as they were), and the
// next import hands the same dismissals over again.
func TestCarriedOverRecordedFirst(t *testing.T) {
	now := time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC)
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return now }}
	lab := org("example-lab", "DE", "Example Lab")
	recs := []map[string]any{cslRecord("e1", elSource, "Exampel Lab Co., Ltd.", nil, "CN")}
	l, err := s.Import("consolidated.json", cslJSON(t, recs...))
	if err != nil {
		t.Fatal(err)
	}
	d := Decision{Org: lab.Metadata.Name, Tenant: catalog.DefaultTenant, Fingerprint: Fingerprint(lab), EntryID: "e1", Entry: "EL " + l.Entries[0].Name,
		Action: Dismiss, By: "a.person", Reason: "other company", Time: now, ListSHA256: l.SHA256, EntrySHA256: l.Entries[0].contentHashV1()}
	if err := s.writeDecisions([]Decision{d}); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Hour)
	refused := errors.New("the audit log cannot be written")
	var handed []Decision
	_, _, err = s.ImportWith("consolidated.json", cslJSON(t, recs...), ImportOptions{Record: func(ds []Decision) error {
		handed = ds
		return refused
	}})
	if !errors.Is(err, refused) || len(handed) != 1 || handed[0].Rekeyed == nil {
		t.Fatalf("an import whose record fails: %v, handed %+v", err, handed)
	}
	if ds, err := s.Decisions(); err != nil || len(ds) != 1 {
		t.Errorf("decisions after the import whose record failed: %+v %v, want the one recorded", ds, err)
	}
	if got, err := s.List(); err != nil || !got.ImportedAt.Equal(l.ImportedAt) {
		t.Errorf("the list was replaced by the import whose record failed: %v", err)
	}
	handed = nil
	_, carried, err := s.ImportWith("consolidated.json", cslJSON(t, recs...), ImportOptions{Record: func(ds []Decision) error {
		handed = ds
		return nil
	}})
	if err != nil || len(handed) != 1 || len(carried) != 1 || handed[0].Rekeyed == nil || handed[0].EntrySHA256 != l.Entries[0].ContentHash() {
		t.Fatalf("the next import: %v, handed %+v, carried %+v", err, handed, carried)
	}
	if ds, err := s.Decisions(); err != nil || len(ds) != 2 {
		t.Errorf("decisions after the next import: %+v %v, want the dismissal and its copy", ds, err)
	}
}

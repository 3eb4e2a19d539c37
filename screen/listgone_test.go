package screen

import (
	"os"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestListRemovedAfterImportFailsClosed: a store with an imported list
// and no decisions file read a list file removed since (by mistake, a
// restore of part of the state directory, or whoever may write it) as no
// list ever imported: screening was off, and every organisation's declared
// status stood. An import now leaves a decisions file, empty where no
// decision was made, which marks a list as imported: a list removed after
// it holds every organisation undetermined, naming the file, until the
// list is imported again.
func TestListRemovedAfterImportFailsClosed(t *testing.T) {
	dir := t.TempDir()
	s := &Store{Dir: dir}
	if _, err := s.Import("consolidated.json", cslJSON(t, datedRecords(3, "2026-01-01")...)); err != nil {
		t.Fatal(err)
	}
	if ds, err := s.Decisions(); err != nil || len(ds) != 0 {
		t.Fatalf("the decisions after a first import: %v %v; want none, readable", ds, err)
	}
	if err := os.Remove(s.listPath()); err != nil {
		t.Fatal(err)
	}
	scr := &Screener{Store: s}
	sc := scr.Screening(org("o", "DE", "Harbor Logistics Partners"))
	if sc == nil || sc.Status != catalog.RestrictedUndetermined {
		t.Fatalf("screening with the imported list removed: %+v; want undetermined, failing closed", sc)
	}
	// A store that never imported a list screens nothing, as before.
	if sc := (&Screener{Store: &Store{Dir: t.TempDir()}}).Screening(org("o", "DE", "Harbor Logistics Partners")); sc != nil {
		t.Errorf("screening with no list ever imported: %+v; want none (the declared status stands)", sc)
	}
}

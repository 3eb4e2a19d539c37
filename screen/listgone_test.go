package screen

import (
	"errors"
	"io/fs"
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

// TestFailedFirstImportLeavesScreeningOff: the decisions file that marks a
// list as imported was written before the list, its record and its
// rename: a first import that then failed (an audit log that could not be
// written) left the mark and no list, and screening held every
// organisation undetermined though nothing was imported. It is written
// once the list is in place.
func TestFailedFirstImportLeavesScreeningOff(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	boom := errors.New("audit log unwritable")
	if _, _, err := s.ImportWith("consolidated.json", cslJSON(t, datedRecords(3, "2026-01-01")...), ImportOptions{Audit: func(ImportRecord) error { return boom }}); !errors.Is(err, boom) {
		t.Fatalf("a first import whose record fails: %v", err)
	}
	if _, err := os.Lstat(s.decisionsPath()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a failed first import left %s (%v)", s.decisionsPath(), err)
	}
	if sc := (&Screener{Store: s}).Screening(org("o", "DE", "Harbor Logistics Partners")); sc != nil {
		t.Errorf("screening after a failed first import: %+v; want none (no list imported)", sc)
	}
}

// TestImportOverRemovedListRefused: a stored list removed (a partial
// restore of the state directory) was read by the next import as none, so
// an extract or last year's file replaced it unchecked, where a list cut
// or blanked is refused. Where the decisions file says a list was
// imported, a missing one is refused as damaged too.
func TestImportOverRemovedListRefused(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	current := datedRecords(40, "2026-01-01")
	if _, err := s.Import("consolidated.json", cslJSON(t, current...)); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(s.listPath()); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import("extract.json", cslJSON(t, current[:3]...)); !errors.Is(err, ErrStoredListDamaged) {
		t.Fatalf("an extract over a removed list: %v; want ErrStoredListDamaged", err)
	}
	if _, _, err := s.ImportWith("extract.json", cslJSON(t, current[:3]...), ImportOptions{Damaged: true}); err != nil {
		t.Fatalf("told to replace it: %v", err)
	}
}

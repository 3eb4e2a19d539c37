package screen

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// datedRecords are n CSL records, the i-th listed on the day after start
// plus i days.
func datedRecords(n int, first string) []map[string]any {
	var recs []map[string]any
	for i := range n {
		r := cslRecord(fmt.Sprintf("id%02d", i), elSource, fmt.Sprintf("Party %d Holdings", i), nil, "CN")
		d, _ := time.Parse("2006-01-02", first)
		r["start_date"] = d.AddDate(0, 0, i).Format("2006-01-02")
		recs = append(recs, r)
	}
	return recs
}

// TestOlderImportRefused: an earlier publication of the CSL (last year's
// file, replayed) replaced the stored list and dropped every party
// listed since, which screened clear, and it passed the check against
// extracts when it held nine tenths of the entries. A file whose newest
// start_date is older than the stored list's is refused, naming both
// dates, unless the caller says it is meant. An import is recorded first
// (ImportOptions.Audit), with the file's hash, the stored list's and the
// ids of the entries it removes, and an error recording it imports
// nothing.
func TestOlderImportRefused(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	current := datedRecords(40, "2026-01-01") // newest 2026-02-09
	stored, err := s.Import("consolidated.json", cslJSON(t, current...))
	if err != nil {
		t.Fatal(err)
	}
	// Last year's file: the same parties but the four listed last.
	older := cslJSON(t, current[:36]...)
	_, err = s.Import("consolidated.json", older)
	if !errors.Is(err, ErrOlderImport) {
		t.Fatalf("an earlier publication: %v, want refused", err)
	}
	for _, want := range []string{"2026-02-05", "2026-02-09", "--allow-older"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	if l, err := s.List(); err != nil || l.SHA256 != stored.SHA256 {
		t.Fatalf("after a refused import, the stored list is %v %v", l, err)
	}
	// Without dates where the stored list has them: refused too.
	undated := slices.Clone(current)
	for i := range undated {
		undated[i] = map[string]any{"id": current[i]["id"], "source": elSource, "name": current[i]["name"], "addresses": current[i]["addresses"]}
	}
	if _, err := s.Import("consolidated.json", cslJSON(t, undated...)); !errors.Is(err, ErrOlderImport) {
		t.Errorf("a file without start dates: %v, want refused", err)
	}
	// An error recording the import imports nothing.
	boom := errors.New("audit log unwritable")
	newer := append(slices.Clone(current), datedRecords(41, "2026-01-01")[40])
	if _, _, err := s.ImportWith("consolidated.json", cslJSON(t, newer...), ImportOptions{Audit: func(ImportRecord) error { return boom }}); !errors.Is(err, boom) {
		t.Fatalf("an import whose record fails: %v", err)
	}
	if l, err := s.List(); err != nil || l.SHA256 != stored.SHA256 {
		t.Fatalf("after an import whose record failed, the stored list is %v %v", l, err)
	}
	// Meant: taken, and recorded with what it removes.
	var rec ImportRecord
	l, _, err := s.ImportWith("consolidated.json", older, ImportOptions{Older: true, Audit: func(r ImportRecord) error { rec = r; return nil }})
	if err != nil {
		t.Fatalf("an older file said to be meant: %v", err)
	}
	if rec.SHA256 != l.SHA256 || rec.PreviousSHA256 != stored.SHA256 || rec.Entries != 36 || rec.PreviousEntries != 40 || !rec.AllowedOlder ||
		!slices.Equal(rec.Removed, []string{"id36", "id37", "id38", "id39"}) || rec.Added != 0 ||
		rec.NewestStartDate != "2026-02-05" || rec.PreviousNewestStartDate != "2026-02-09" {
		t.Errorf("the import's record: %+v", rec)
	}
	// The newest listing ever imported is the mark: the older file again
	// is older than it, and is taken only when said to be meant.
	if _, err := s.Import("consolidated.json", older); !errors.Is(err, ErrOlderImport) {
		t.Errorf("the older publication again: %v, want refused", err)
	}
	if _, _, err := s.ImportWith("consolidated.json", older, ImportOptions{Older: true}); err != nil {
		t.Errorf("the older publication again, meant: %v", err)
	}
	_, _, err = s.ImportWith("consolidated.json", cslJSON(t, newer...), ImportOptions{Audit: func(r ImportRecord) error { rec = r; return nil }})
	if err != nil || rec.Added != 5 || len(rec.Removed) != 0 || rec.AllowedOlder {
		t.Errorf("a newer file: %v, record %+v", err, rec)
	}
}

// TestOlderImportAfterUndated: the stored list was the mark an import was
// compared with, and one without dates (imported as meant) left none:
// every earlier publication was taken after it. The newest start_date
// ever imported is kept and compared with.
func TestOlderImportAfterUndated(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	current := datedRecords(40, "2026-01-01") // newest 2026-02-09
	if _, err := s.Import("consolidated.json", cslJSON(t, current...)); err != nil {
		t.Fatal(err)
	}
	undated := slices.Clone(current)
	for i := range undated {
		undated[i] = map[string]any{"id": current[i]["id"], "source": elSource, "name": current[i]["name"], "addresses": current[i]["addresses"]}
	}
	if _, _, err := s.ImportWith("consolidated.json", cslJSON(t, undated...), ImportOptions{Older: true}); err != nil {
		t.Fatalf("an undated file, meant: %v", err)
	}
	older := cslJSON(t, current[:36]...) // newest 2026-02-05
	_, err := s.Import("consolidated.json", older)
	if !errors.Is(err, ErrOlderImport) || !strings.Contains(err.Error(), "2026-02-09") {
		t.Fatalf("an earlier publication after an undated one: %v, want refused, naming 2026-02-09", err)
	}
	if _, err := s.Import("consolidated.json", cslJSON(t, current...)); err != nil {
		t.Errorf("the current publication: %v", err)
	}
}

// TestImportRecordedThenWritten: the import was recorded in the audit log
// before the list was written, and a write that then failed left the log
// saying the list was imported. The list is now written and synced
// before it is recorded, and when putting it in place fails, a second
// record says so; the error is the storage's (ErrListNotWritten).
func TestImportRecordedThenWritten(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	// A directory where the list goes: nothing can be renamed over it.
	if err := os.MkdirAll(filepath.Join(s.Dir, "list.json", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	var recs []ImportRecord
	_, _, err := s.ImportWith("consolidated.json", cslJSON(t, datedRecords(3, "2026-01-01")...), ImportOptions{Damaged: true, Audit: func(r ImportRecord) error { recs = append(recs, r); return nil }})
	if err == nil || !errors.Is(err, ErrListNotWritten) {
		t.Fatalf("an import whose list cannot be put in place: %v, want ErrListNotWritten", err)
	}
	if len(recs) != 2 || recs[0].Failed != "" || recs[1].Failed == "" || recs[1].SHA256 != recs[0].SHA256 {
		t.Fatalf("audit records %+v, want the import then its failure", recs)
	}
	if ents, _ := os.ReadDir(s.Dir); slices.ContainsFunc(ents, func(e os.DirEntry) bool { return strings.Contains(e.Name(), ".tmp-") }) {
		t.Errorf("a temporary file is left: %v", ents)
	}
}

// TestImportRecordRemovedBounded: the record of an import held every id
// the file removed, as large as the list (16 MiB) for a file that
// removed it all. It holds the first MaxRecordedRemoved, and counts and
// hashes them all.
func TestImportRecordRemovedBounded(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	recs := datedRecords(MaxRecordedRemoved+5, "2020-01-01")
	if _, err := s.Import("consolidated.json", cslJSON(t, recs...)); err != nil {
		t.Fatal(err)
	}
	var rec ImportRecord
	_, _, err := s.ImportWith("consolidated.json", cslJSON(t, recs[len(recs)-3:]...), ImportOptions{Partial: true, Audit: func(r ImportRecord) error { rec = r; return nil }})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	for _, r := range recs[:len(recs)-3] {
		all = append(all, r["id"].(string))
	}
	sort.Strings(all)
	sum := sha256.Sum256([]byte(strings.Join(all, "\n") + "\n"))
	if len(rec.Removed) != MaxRecordedRemoved || rec.RemovedCount != len(all) || !slices.Equal(rec.Removed, all[:MaxRecordedRemoved]) ||
		rec.RemovedSHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("the record holds %d removed ids, count %d, sha256 %s; want %d, %d, %x", len(rec.Removed), rec.RemovedCount, rec.RemovedSHA256, MaxRecordedRemoved, len(all), sum)
	}
}

package screen

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestImportOverDamagedListRefused: a stored list that was there but did
// not read (cut, blanked to "{}", its entries emptied) was taken by an
// import as no list at all, so the file was not checked against it: an
// extract of one list, or last year's publication, replaced it unchecked,
// and the parties it lacked screened clear. Such an import is now refused,
// naming the stored file and --replace-damaged, and changes nothing; told
// so, it replaces the damaged list, and its record says why it was
// unchecked. A store with no list still takes its first one.
func TestImportOverDamagedListRefused(t *testing.T) {
	current := datedRecords(40, "2026-01-01")
	extract := cslJSON(t, current[:3]...) // three entries, all dated earlier
	for name, damage := range map[string]func(path string) error{
		"cut":     func(p string) error { b, _ := os.ReadFile(p); return os.WriteFile(p, b[:len(b)/2], 0o600) },
		"blanked": func(p string) error { return os.WriteFile(p, []byte("{}"), 0o600) },
		"no entries": func(p string) error {
			return os.WriteFile(p, []byte(`{"file":"consolidated.json","entries":[]}`), 0o600)
		},
		"an entry's id emptied": func(p string) error {
			b, _ := os.ReadFile(p)
			return os.WriteFile(p, []byte(strings.Replace(string(b), `"id":"id07"`, `"id":""`, 1)), 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := &Store{Dir: t.TempDir()}
			if _, err := s.Import("consolidated.json", cslJSON(t, current...)); err != nil {
				t.Fatal(err)
			}
			if err := damage(s.listPath()); err != nil {
				t.Fatal(err)
			}
			before, _ := os.ReadFile(s.listPath())
			_, _, err := s.ImportWith("extract.json", extract, ImportOptions{})
			if !errors.Is(err, ErrStoredListDamaged) || !strings.Contains(err.Error(), s.listPath()) || !strings.Contains(err.Error(), "--replace-damaged") {
				t.Fatalf("an extract over a %s stored list: %v; want it refused naming the stored file and --replace-damaged", name, err)
			}
			if after, _ := os.ReadFile(s.listPath()); string(after) != string(before) {
				t.Fatalf("a refused import changed the stored list")
			}
			var rec ImportRecord
			l, _, err := s.ImportWith("extract.json", extract, ImportOptions{Damaged: true, Audit: func(r ImportRecord) error { rec = r; return nil }})
			if err != nil || len(l.Entries) != 3 {
				t.Fatalf("told to replace a %s stored list: %v", name, err)
			}
			if rec.ReplacedDamaged == "" || rec.PreviousSHA256 != "" {
				t.Errorf("the record of a damaged list replaced: %+v; want why it was unchecked, and no previous list", rec)
			}
		})
	}
	// No list yet: the first import needs nothing.
	s := &Store{Dir: t.TempDir()}
	var rec ImportRecord
	if _, _, err := s.ImportWith("extract.json", extract, ImportOptions{Audit: func(r ImportRecord) error { rec = r; return nil }}); err != nil {
		t.Fatalf("a first import: %v", err)
	}
	if rec.ReplacedDamaged != "" {
		t.Errorf("a first import's record says it replaced a damaged list: %q", rec.ReplacedDamaged)
	}
}

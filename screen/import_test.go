package screen

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestImportOfSomeListsRefused: the screening list is the lists together,
// and a file of one list's entries (an extract, a download cut short)
// replaced them all: the parties of the others screened clear. Such an
// import is refused, naming the lists missing and how many entries fewer,
// and changes nothing, unless the caller says it is meant; a file with a
// few entries fewer, the first import and one over a stored list that
// cannot be read are taken.
func TestImportOfSomeListsRefused(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	full := read(t, "csl-sample-id.csv")
	whole, err := s.Import("consolidated.csv", full)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(full), "\n")
	var el []string
	for _, ln := range lines[1:] {
		if strings.Contains(ln, "Entity List (EL)") {
			el = append(el, ln)
		}
	}
	extract := lines[0] + strings.Join(el, "")
	_, err = s.Import("el.csv", []byte(extract))
	if !errors.Is(err, ErrPartialImport) {
		t.Fatalf("an import of the Entity List alone: %v, want refused", err)
	}
	for _, want := range []string{"SDN (1 entries)", "DPL (1 entries)", "MEU (1 entries)", "ISN (1 entries)", "MBS (1 entries)",
		"it holds 3 entries, 5 fewer than the 8 of the stored list", "--allow-partial"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not say %q: %v", want, err)
		}
	}
	if l, err := s.List(); err != nil || l.SHA256 != whole.SHA256 {
		t.Fatalf("after a refused import, the stored list is %v %v", l, err)
	}
	// Meant: taken.
	l, _, err := s.ImportWith("el.csv", []byte(extract), ImportOptions{Partial: true})
	if err != nil || len(l.Entries) != 3 {
		t.Fatalf("an extract said to be meant: %v", err)
	}
	// A first import has nothing to compare with; one over a list that
	// cannot be read is refused, unless told to replace it
	// (TestImportOverDamagedListRefused).
	if _, err := (&Store{Dir: t.TempDir()}).Import("el.csv", []byte(extract)); err != nil {
		t.Errorf("a first import of an extract: %v", err)
	}
	if err := os.WriteFile(s.listPath(), []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import("consolidated.csv", full); !errors.Is(err, ErrStoredListDamaged) {
		t.Errorf("an import over a list that cannot be read: %v, want ErrStoredListDamaged", err)
	}
	if _, _, err := s.ImportWith("consolidated.csv", full, ImportOptions{Damaged: true}); err != nil {
		t.Errorf("an import told to replace a list that cannot be read: %v", err)
	}
	// Far fewer entries of each list, none missing: refused.
	var big []map[string]any
	for i := range 40 {
		src := elSource
		if i%2 == 1 {
			src = "Specially Designated Nationals (SDN) - Treasury Department"
		}
		big = append(big, cslRecord(string(rune('a'+i%26))+string(rune('a'+i/26)), src, "Party "+string(rune('A'+i%26)), nil, "CN"))
	}
	s2 := &Store{Dir: t.TempDir()}
	if _, err := s2.Import("consolidated.json", cslJSON(t, big...)); err != nil {
		t.Fatal(err)
	}
	if _, err := s2.Import("consolidated.json", cslJSON(t, big[:35]...)); !errors.Is(err, ErrPartialImport) ||
		!strings.Contains(err.Error(), "5 fewer than the 40") || !strings.Contains(err.Error(), "EL 2 fewer, SDN 3 fewer") {
		t.Errorf("an import of 35 entries of 40: %v, want refused", err)
	}
	// A tenth fewer at most: taken.
	if _, err := s2.Import("consolidated.json", cslJSON(t, big[:36]...)); err != nil {
		t.Errorf("an import of 36 entries of 40: %v", err)
	}
}

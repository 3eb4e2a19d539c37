package screen

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestListNamesBounded: a list was bounded by its entries (MaxEntries)
// and each entry by its 1,000 alternate names and addresses, but not its
// names all together: a file of entries of 1,000 short alternate names
// held hundreds of millions of names within its bytes, and each screening
// built an index over all of them (1.8 GB and seven seconds a million
// names, on a list of 3 MB). A file with more than MaxNames names, or
// addresses, is refused now at the first entry past the bound, naming it,
// and nothing is imported; a stored list with more is a list that cannot
// be read, and screening fails closed.
func TestListNamesBounded(t *testing.T) {
	m := maxNames
	t.Cleanup(func() { maxNames = m })
	maxNames = 20
	// n entries of 3 alternate names (4 names each) and of addrs addresses.
	csv := func(n, addrs int) []byte {
		var b strings.Builder
		b.WriteString("source,entity_number,name,alt_names,addresses\n")
		for i := range n {
			a := strings.TrimSuffix(strings.Repeat("Tianjin, CN;", addrs), ";")
			fmt.Fprintf(&b, "Entity List (EL) - BIS,%d,Northwind %d GmbH,Wind %d; North %d; NW %d,\"%s\"\n", i, i, i, i, i, a)
		}
		return []byte(b.String())
	}
	recs := func(n, addrs int) []byte {
		var out []map[string]any
		for i := range n {
			var cs []string
			for range addrs {
				cs = append(cs, "CN")
			}
			out = append(out, cslRecord(fmt.Sprintf("e%d", i), elSource, fmt.Sprintf("Northwind %d GmbH", i),
				[]string{fmt.Sprintf("Wind %d", i), fmt.Sprintf("North %d", i), fmt.Sprintf("NW %d", i)}, cs...))
		}
		return cslJSON(t, out...)
	}
	for _, c := range []struct {
		file string
		data []byte
		want string // "" when the list is taken
	}{
		{"el.csv", csv(5, 1), ""},
		{"consolidated.json", recs(5, 1), ""},
		{"el.csv", csv(6, 1), "line 7: more than 20 names"},
		{"consolidated.json", recs(6, 1), "results[5]: more than 20 names"},
		{"el.csv", csv(3, 7), "line 4: more than 20 addresses"},
		{"consolidated.json", recs(3, 7), "results[2]: more than 20 addresses"},
	} {
		s := &Store{Dir: t.TempDir()}
		_, err := s.Import(c.file, c.data)
		if c.want == "" {
			if err != nil {
				t.Errorf("%s at the bound: %v", c.file, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "MaxNames") {
			t.Errorf("%s past the bound: %v, want a refusal saying %q and naming MaxNames", c.file, err, c.want)
		}
		if _, err := s.List(); !errors.Is(err, ErrNoList) {
			t.Errorf("%s: the list after a refused import: %v, want none imported", c.file, err)
		}
	}

	// A stored list past the bound, as an import before it wrote one.
	s := &Store{Dir: t.TempDir()}
	l, err := s.Import("el.csv", csv(5, 1))
	if err != nil {
		t.Fatal(err)
	}
	more := *l
	more.Entries = append([]Entry{}, l.Entries...)
	more.Entries[4].AltNames = append(more.Entries[4].AltNames, "Northwind Four")
	out, err := json.Marshal(&more)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.listPath(), out, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), "entries[4]: more than 20 names") || !strings.Contains(err.Error(), s.listPath()) {
		t.Errorf("a stored list of 21 names: %v, want a refusal naming the file, the entry and the bound", err)
	}
	scr := &Screener{Store: s, Recheck: time.Nanosecond}
	if sc := scr.Screening(org("example", "FR", "Laboratoire Propre SAS")); sc == nil || sc.Status != catalog.RestrictedUndetermined || !strings.Contains(sc.Source, "more than 20 names") {
		t.Errorf("a server's screening with a stored list over the bound: %+v, want undetermined naming the bound", sc)
	}
}

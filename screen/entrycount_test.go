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

// smallEntryBound lowers the bound on a list's entries for the test:
// lists of MaxEntries take seconds to build and read.
func smallEntryBound(t *testing.T) {
	m := maxEntries
	t.Cleanup(func() { maxEntries = m })
	maxEntries = 5
}

// entriesBoundNamed is whether err names the bound on a list's entries.
func entriesBoundNamed(err error) bool {
	return err != nil && strings.Contains(err.Error(), fmt.Sprintf("more than %d entries", maxEntries))
}

// TestListEntriesBounded: a list was bounded only by its file's bytes,
// and a file of short records (a few bytes a line) held tens of millions
// of entries, which an import read whole, and ran out of memory on,
// before any check. A file with more than MaxEntries is refused now at
// the first entry past the bound, naming it, and nothing is imported; a
// stored list with more is refused as a list that cannot be read, and
// screening fails closed.
func TestListEntriesBounded(t *testing.T) {
	smallEntryBound(t)
	csv := func(n int) []byte {
		var b strings.Builder
		b.WriteString("source,entity_number,name,addresses\n")
		for i := range n {
			fmt.Fprintf(&b, "Entity List (EL) - BIS,%d,Northwind Trading %d GmbH,\"Tianjin, CN\"\n", i, i)
		}
		return []byte(b.String())
	}
	recs := func(n int) []map[string]any {
		var out []map[string]any
		for i := range n {
			out = append(out, cslRecord(fmt.Sprintf("e%d", i), elSource, fmt.Sprintf("Northwind Trading %d GmbH", i), nil, "CN"))
		}
		return out
	}
	for name, data := range map[string][]byte{"el.csv": csv(maxEntries + 1), "consolidated.json": cslJSON(t, recs(maxEntries+1)...)} {
		s := &Store{Dir: t.TempDir()}
		if _, err := s.Import(name, data); !entriesBoundNamed(err) {
			t.Errorf("%s of %d entries: %v, want a refusal naming the bound", name, maxEntries+1, err)
		}
		if _, err := s.List(); !errors.Is(err, ErrNoList) {
			t.Errorf("%s: the list after a refused import: %v, want none imported", name, err)
		}
	}
	for name, data := range map[string][]byte{"el.csv": csv(maxEntries), "consolidated.json": cslJSON(t, recs(maxEntries)...)} {
		s := &Store{Dir: t.TempDir()}
		if l, err := s.Import(name, data); err != nil || len(l.Entries) != maxEntries {
			t.Errorf("%s of %d entries, the bound: %v", name, maxEntries, err)
		}
	}

	// A stored list past the bound, as an import before it wrote one.
	s := &Store{Dir: t.TempDir()}
	l, err := s.Import("el.csv", csv(maxEntries))
	if err != nil {
		t.Fatal(err)
	}
	more := *l
	more.Entries = append(append([]Entry{}, l.Entries...), l.Entries[0])
	more.Entries[maxEntries].ID = "another"
	more.Counts = map[string]int{"EL": maxEntries + 1}
	out, err := json.Marshal(&more)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.listPath(), out, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(); !entriesBoundNamed(err) || !strings.Contains(err.Error(), s.listPath()) {
		t.Errorf("a stored list of %d entries: %v, want a refusal naming the file and the bound", maxEntries+1, err)
	}
	o := org("northwind", "DE", "Northwind Trading 1 GmbH")
	scr := &Screener{Store: s, Recheck: time.Nanosecond}
	if sc := scr.Screening(o); sc == nil || sc.Status != catalog.RestrictedUndetermined || !strings.Contains(sc.Source, fmt.Sprintf("more than %d entries", maxEntries)) {
		t.Errorf("a server's screening with a stored list over the bound: %+v, want undetermined naming the bound", sc)
	}
}

// BenchmarkListRead reads a stored list of 10,000 entries, as a server
// does when the list changes.
func BenchmarkListRead(b *testing.B) {
	s := &Store{Dir: b.TempDir()}
	l := syntheticList(10000)
	l.Counts = map[string]int{}
	for _, e := range l.Entries {
		l.Counts[e.List]++
	}
	out, err := json.Marshal(l)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(s.listPath(), out, 0o600); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if got, err := s.List(); err != nil || len(got.Entries) != 10000 {
			b.Fatal(err)
		}
	}
}

// TestArrayLonger: the count before decoding reads the elements of the
// array only, not commas within strings (escaped quotes included) or
// nested values.
func TestArrayLonger(t *testing.T) {
	for _, c := range []struct {
		json string
		n    int
	}{
		{`null`, 0}, {`[]`, 0}, {`[{}]`, 1}, {`[ {} , {} ]`, 2},
		{`[{"a":"x,y,\"z,[{"},{"b":[1,2,3],"c":{"d":",","e":"\\"}},"q"]`, 3},
		{`[[1,2],[3,[4,5]],"[,]"]`, 3},
	} {
		if !json.Valid([]byte(c.json)) {
			t.Fatalf("%s: not JSON", c.json)
		}
		for max := 1; max <= 4; max++ {
			if got := arrayLonger([]byte(c.json), max); got != (c.n > max) {
				t.Errorf("%s (%d elements) longer than %d: %v", c.json, c.n, max, got)
			}
		}
	}
}

package screen

import (
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
)

// allocated is the bytes f allocates.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestListRecordsBoundedBeforeRead: a list file's record was read whole
// before its size was checked: a CSV line of millions of commas took the
// reader an offset and a string per field, and a JSON record of millions
// of alternate names a string each, gigabytes at the file's bound, before
// the record was refused. Such a record is refused now before it is
// read, naming the bound, having allocated little beyond the file.
func TestListRecordsBoundedBeforeRead(t *testing.T) {
	const n = 2_000_000
	csvFile := []byte("source,name\nEntity List (EL) - BIS,Northwind" + strings.Repeat(",", n) + "\n")
	jsonFile := []byte(`{"results":[{"id":"e1","source":"Entity List (EL) - BIS","name":"Northwind","alt_names":[` + strings.Repeat(`"",`, n) + `""]}]}`)
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"el.csv", csvFile, fmt.Sprintf("line 2: more than %d fields", maxColumns)},
		{"consolidated.json", jsonFile, fmt.Sprintf("of more than %d items", maxItems)},
	} {
		var err error
		got := allocated(func() { _, err = Parse(c.name, c.data) })
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want a refusal saying %q", c.name, err, c.want)
		}
		t.Logf("%s of %d bytes: %d bytes allocated", c.name, len(c.data), got)
		if limit := uint64(len(c.data)) + 4<<20; got > limit {
			t.Errorf("%s of %d bytes: refusing it allocated %d bytes, over %d", c.name, len(c.data), got, limit)
		}
	}
	// Commas within quoted fields are not fields; quotes doubled within
	// one neither open nor close it.
	quoted := "source,name,alt_names\nEntity List (EL) - BIS,\"Northwind \"\"North, Wind\"\" Ltd\",\"" + strings.Repeat("Wind, ", maxColumns) + "Northwind\"\n"
	es, err := Parse("el.csv", []byte(quoted))
	if err != nil || len(es) != 1 || es[0].Name != `Northwind "North, Wind" Ltd` {
		t.Errorf("a record with commas in quoted fields: %+v %v", es, err)
	}
}

// TestStoredEntryListsBounded: an entry of the stored list was decoded
// whole before its check refused more than maxItems alternate names: a
// list file holding one entry of millions of names (written by hand, or
// put in place) took a string each on every server's read. It is refused
// now before they are decoded, as a list that cannot be read.
func TestStoredEntryListsBounded(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(s.listPath())
	if err != nil {
		t.Fatal(err)
	}
	const n = 2_000_000
	planted := bytes.Replace(data, []byte(`"altNames":[`), []byte(`"altNames":[`+strings.Repeat(`"",`, n)), 1)
	if len(planted) == len(data) {
		t.Fatal("no entry with alternate names in the stored list")
	}
	if err := os.WriteFile(s.listPath(), planted, 0o600); err != nil {
		t.Fatal(err)
	}
	got := allocated(func() { _, err = s.List() })
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("of more than %d items", maxItems)) {
		t.Errorf("a stored entry of over %d alternate names: %v, want a refusal naming the bound", n, err)
	}
	// The file is read into memory (twice its size at most, as it
	// grows), and no more.
	if limit := 2*uint64(len(planted)) + 4<<20; got > limit {
		t.Errorf("refusing a stored list of %d bytes allocated %d bytes, over %d", len(planted), got, limit)
	}
}

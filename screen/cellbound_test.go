package screen

import (
	"fmt"
	"strings"
	"testing"
)

// TestListCellsBoundedBeforeSplit: a CSV cell of several values (alternate
// names, programmes, addresses, split at ';', and an address split at ',')
// was split whole before its values were counted: a quoted cell of
// millions of separators, which the record's bound on fields does not
// count, took a string header each (16 bytes a byte of the file, gigabytes
// at its bound) before the entry was refused, or, the values being empty,
// read. A cell of more values than the bound is refused now, naming the
// line, the column and the bound, and one of empty values read as none,
// either having allocated no more than the CSV reader's copies of the
// record.
func TestListCellsBoundedBeforeSplit(t *testing.T) {
	const n = 2_000_000
	for _, c := range []struct {
		column, cell, want string
	}{
		{"alt_names", strings.Repeat(";", n), ""},
		{"alt_names", strings.Repeat("a;", n), fmt.Sprintf("alt_names: more than %d values", maxItems)},
		{"programs", strings.Repeat(" ;", n), ""},
		{"programs", strings.Repeat("P;", n), fmt.Sprintf("programs: more than %d values", maxItems)},
		{"addresses", strings.Repeat(";", n), ""},
		{"addresses", strings.Repeat("x, CN;", n), fmt.Sprintf("addresses: more than %d values", maxItems)},
		{"addresses", "Tianjin" + strings.Repeat(",", n) + " CN", "addresses[0].address: "},
	} {
		data := []byte("source,name," + c.column + "\nEntity List (EL) - BIS,Northwind,\"" + c.cell + "\"\n")
		var err error
		got := allocated(func() { _, err = Parse("el.csv", data) })
		if c.want == "" && err != nil {
			t.Errorf("%s of %d bytes of empty values: %v, want it read", c.column, len(c.cell), err)
		}
		if c.want != "" && (err == nil || !strings.Contains(err.Error(), "line 2: ") || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s of %d bytes: %v, want a refusal naming line 2 and %q", c.column, len(c.cell), err, c.want)
		}
		t.Logf("%s of %d bytes: %v; %d bytes allocated", c.column, len(c.cell), err, got)
		// The CSV reader copies a record a few times as it grows its
		// buffers (about seven times the record); a string header a
		// separator took 23 to 58 times.
		if limit := 10*uint64(len(data)) + 4<<20; got > limit {
			t.Errorf("%s of %d bytes: reading it allocated %d bytes, over %d", c.column, len(c.cell), got, limit)
		}
	}
	// Values up to the bound, with empty ones between them, still read.
	var names []string
	for i := range maxItems {
		names = append(names, fmt.Sprintf("Wind %d", i))
	}
	data := []byte("source,name,alt_names,addresses\nEntity List (EL) - BIS,Northwind,\"" + strings.Join(names, "; ;") + "\",\"1 Road, Tianjin, CN;;\"\n")
	es, err := Parse("el.csv", data)
	if err != nil || len(es) != 1 || len(es[0].AltNames) != maxItems || es[0].AltNames[maxItems-1] != names[maxItems-1] ||
		len(es[0].Addresses) != 1 || es[0].Addresses[0].Country != "CN" || es[0].Addresses[0].Address != "1 Road, Tianjin" {
		t.Errorf("a record of %d alternate names: %v", maxItems, err)
	}
}

// TestListRecordBytesBounded: a CSV record was read by encoding/csv
// before any of its fields was checked, and the reader allocates some nine
// times the record as it reads it (its line and its fields' buffer, each
// grown by doubling, then a string a field): one quoted name of 16 MB took
// 150 MB, some 4.5 GB at the file's bound. A record of more than maxRecordBytes is
// refused now before it is read, naming the line it starts on and the
// bound, having allocated little beyond the file.
func TestListRecordBytesBounded(t *testing.T) {
	big := strings.Repeat("Northwind ", maxRecordBytes/10+1)
	for _, c := range []struct {
		name string
		data []byte
	}{
		{"a quoted name", []byte("source,name\nEntity List (EL) - BIS,Northwind\nEntity List (EL) - BIS,\"" + big + "\"\n")},
		{"a field of quoted lines", []byte("source,name\nEntity List (EL) - BIS,Northwind\nEntity List (EL) - BIS,\"" + strings.ReplaceAll(big, " ", "\n") + "\"")},
		{"an unquoted name, the last line", []byte("source,name\nEntity List (EL) - BIS,Northwind\nEntity List (EL) - BIS," + big)},
	} {
		var err error
		got := allocated(func() { _, err = Parse("el.csv", c.data) })
		want := fmt.Sprintf("el.csv: line 3: a record of more than %d bytes", maxRecordBytes)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s of %d bytes: %v, want a refusal saying %q", c.name, len(big), err, want)
		}
		t.Logf("%s of %d bytes: %d bytes allocated", c.name, len(c.data), got)
		if limit := uint64(len(c.data)) + 4<<20; got > limit {
			t.Errorf("%s of %d bytes: refusing it allocated %d bytes, over %d", c.name, len(c.data), got, limit)
		}
	}
	// A record at the bound is read (and its name refused as over the
	// bound of a field, once read).
	at := []byte("source,name\nEntity List (EL) - BIS,\"" + strings.Repeat("N", maxRecordBytes-len("Entity List (EL) - BIS,\"\"\n")) + "\"\n")
	if _, err := Parse("el.csv", at); err == nil || strings.Contains(err.Error(), "a record of more than") || !strings.Contains(err.Error(), "name: longer than") {
		t.Errorf("a record of %d bytes, the bound: %v, want it read and its name refused", maxRecordBytes, err)
	}
}

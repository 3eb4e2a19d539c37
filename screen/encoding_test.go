package screen

import (
	"errors"
	"strings"
	"testing"

	"meridian.dev/meridian/catalog"
)

// TestListInAnotherEncodingRefused: an import took a list file in another
// encoding than UTF-8 (Latin-1 here) as it was: each letter outside ASCII
// a byte that is no letter, which normalising drops (or, in JSON, the
// decoder reads as U+FFFD), so a listed party whose name has a few
// (Zürcher Bär Mühle) screened none under its own name. Such a file is
// refused now, naming the line or record, the field and the byte, and
// nothing is imported; the same names in UTF-8 match.
func TestListInAnotherEncodingRefused(t *testing.T) {
	const latin1 = "Z\xfcrcher B\xe4r M\xfchle AG" // Zürcher Bär Mühle AG in Latin-1
	for _, c := range []struct {
		file, data, want string
	}{
		{"el.csv", "source,name,addresses\nEntity List (EL) - BIS,Northwind,\"Tianjin, CN\"\nEntity List (EL) - BIS,\"" + latin1 + "\",\"Zurich, CH\"\n",
			"line 3: entry \"el-"},
		{"el.csv", "source,name,alt_names,addresses\nEntity List (EL) - BIS,Zurich Mill,\"Mill; " + latin1 + "\",\"Zurich, CH\"\n",
			"alt_names[1]: byte 1 (0xfc) is not UTF-8"},
		{"el.csv", "source,name,addresses\nEntity List (EL) - BIS,Zurich Mill,\"M\xfchlestrasse 1, Zurich, CH\"\n",
			"addresses[0].address: byte 1 (0xfc) is not UTF-8"},
		{"consolidated.json", `{"results":[{"id":"e1","source":"` + elSource + `","name":"Northwind"},{"id":"e2","source":"` + elSource + `","name":"` + latin1 + `","addresses":[{"country":"CH"}]}]}`,
			"results[1]: byte "},
	} {
		s := &Store{Dir: t.TempDir()}
		_, err := s.Import(c.file, []byte(c.data))
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "not UTF-8") {
			t.Errorf("%s in Latin-1: %v, want a refusal saying %q and not UTF-8", c.file, err, c.want)
		}
		if _, err := s.List(); !errors.Is(err, ErrNoList) {
			t.Errorf("%s: the list after a refused import: %v, want none imported", c.file, err)
		}
	}
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("el.csv", []byte("source,name,addresses\nEntity List (EL) - BIS,Zürcher Bär Mühle AG,\"Zurich, CH\"\n")); err != nil {
		t.Fatal(err)
	}
	res, err := s.Screen("", org("muehle", "CH", "Zürcher Bär Mühle AG"))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != catalog.RestrictedEntityList {
		t.Errorf("the list in UTF-8: %s (%s), want entity-list", res[0].Status, res[0].Source)
	}
}

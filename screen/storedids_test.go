package screen

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestStoredListRepeatsAnID: a stored list that holds two entries of one
// id (which no import writes: it refuses such a file) is refused as a
// list that failed to load (screening undetermined), rather than read
// with each decision on one of them applied to both.
func TestStoredListRepeatsAnID(t *testing.T) {
	s := &Store{Dir: t.TempDir(), Now: func() time.Time { return time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC) }}
	l, err := s.Import("consolidated.json", cslJSON(t, cslRecord("e1", elSource, "Northwind Trading GmbH", nil, "CN")))
	if err != nil {
		t.Fatal(err)
	}
	lab := org("northwind", "DE", "Northwind Trading GmbH")
	if _, err := s.Decide("", lab, "e1", Dismiss, "a.person", "another company, in China"); err != nil {
		t.Fatal(err)
	}
	l.Entries = append(l.Entries, Entry{ID: "e1", Source: elSource, List: "EL", Name: "Northwind Trading GmbH", Addresses: []Address{{Country: "DE"}}})
	l.Counts["EL"]++
	data, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.listPath(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.List(); err == nil || !strings.Contains(err.Error(), `id "e1" twice`) {
		t.Errorf("a stored list repeating an id: %v", err)
	}
	sc := (&Screener{Store: s}).Screening(lab)
	if sc == nil || sc.Status != catalog.RestrictedUndetermined {
		t.Errorf("screening against it: %+v", sc)
	}
}

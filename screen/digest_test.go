package screen

import (
	"encoding/json"
	"os"
	"testing"
	"time"

	"meridian.dev/meridian/catalog"
)

// TestDigestFollowsStoredEntries: the digest a law check records changes
// when the stored list's entries do, though the list still records the
// hash of the same imported file (imported again by a parser that reads
// it otherwise, or the file edited): it named the imported file only, and
// an entry added under it changed the answers but left every law check
// made before standing.
func TestDigestFollowsStoredEntries(t *testing.T) {
	s := &Store{Dir: t.TempDir()}
	if _, err := s.Import("consolidated.csv", read(t, "csl-sample-id.csv")); err != nil {
		t.Fatal(err)
	}
	scr := &Screener{Store: s, Recheck: time.Nanosecond}
	lab := org("northwind", "DE", "Northwind Research Institute GmbH")
	if sc := scr.Screening(lab); sc == nil || sc.Status != catalog.RestrictedNone {
		t.Fatalf("before: %+v", sc)
	}
	before := scr.Digest()
	l, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	l.Entries = append(l.Entries, Entry{ID: "added", Source: "Entity List (EL) - Bureau of Industry and Security", List: "EL",
		Name: "Northwind Research Institute GmbH", Addresses: []Address{{Country: "DE"}}})
	l.Counts["EL"]++
	data, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(s.listPath(), data, 0o600); err != nil {
		t.Fatal(err)
	}
	if sc := scr.Screening(lab); sc == nil || sc.Status != catalog.RestrictedEntityList {
		t.Fatalf("after: %+v", sc)
	}
	if after := scr.Digest(); after == before {
		t.Errorf("the entries changed, and the screening's answer, but not the digest %s", after)
	}
}

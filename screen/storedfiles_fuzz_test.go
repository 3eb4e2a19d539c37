package screen

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"meridian.dev/meridian/catalog"
)

// FuzzStoredFiles reads back whatever lies in a store's list and
// decisions files (a hand edit, a file cut short, one put in place):
// reading and screening against them never panics; a list read back is
// whole (entries with ids, as counted) and, written again as the store
// writes it, reads back the same; decisions read back are confirmations
// or dismissals.
func FuzzStoredFiles(f *testing.F) {
	seedDir := f.TempDir()
	seed := &Store{Dir: seedDir}
	if _, err := seed.Import("csl-sample.csv", read(f, "csl-sample.csv")); err != nil {
		f.Fatal(err)
	}
	list, err := os.ReadFile(filepath.Join(seedDir, "list.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(list, []byte(`{"decisions":[{"org":"lab","entryId":"x","action":"dismiss","by":"a","reason":"b"}]}`))
	f.Add(list, []byte(`{"decisions":[{"action":"maybe"}]}`))
	f.Add([]byte(`{"entries":[{"id":"1","name":"Example","list":"EL"}],"counts":{"EL":1}}`), []byte(`{"decisions":null}`))
	f.Add([]byte(`{"entries":[{"id":"1","name":"","list":"EL"}],"counts":{"EL":1}}`), []byte(`{}`))
	f.Add([]byte(`{"entries":null}`), []byte(`[]`))
	orgs := []*catalog.Organization{
		{Metadata: catalog.Metadata{Name: "lab"}, Spec: catalog.OrganizationSpec{Headquarters: "CN", Aliases: []string{"Example"}}},
		{Metadata: catalog.Metadata{Name: "northwind"}, Spec: catalog.OrganizationSpec{Headquarters: "DE", Aliases: []string{"Northwind Avionics"}}},
	}
	f.Fuzz(func(t *testing.T, listFile, decisionsFile []byte) {
		s := &Store{Dir: t.TempDir()}
		if err := os.WriteFile(filepath.Join(s.Dir, "list.json"), listFile, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(s.Dir, "decisions.json"), decisionsFile, 0o600); err != nil {
			t.Fatal(err)
		}
		l, lerr := s.List()
		ds, derr := s.Decisions()
		res, serr := s.Screen("t", orgs...)
		if serr == nil && (lerr != nil || derr != nil) {
			t.Fatalf("screened against files that do not read back: list %v, decisions %v", lerr, derr)
		}
		if serr == nil && len(res) != len(orgs) {
			t.Fatalf("%d results for %d organisations", len(res), len(orgs))
		}
		if derr == nil {
			for i, d := range ds {
				if d.Action != Confirm && d.Action != Dismiss {
					t.Fatalf("decision %d read back with action %q", i, d.Action)
				}
			}
		}
		if lerr != nil {
			return
		}
		if err := l.whole(); err != nil {
			t.Fatalf("a list read back that is not whole: %v", err)
		}
		out, err := json.Marshal(l)
		if err != nil {
			t.Fatalf("a list read back does not encode: %v", err)
		}
		if err := os.WriteFile(filepath.Join(s.Dir, "list.json"), out, 0o600); err != nil {
			t.Fatal(err)
		}
		l2, err := s.List()
		if err != nil {
			t.Fatalf("a list read back, written again, is refused: %v", err)
		}
		out2, err := json.Marshal(l2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("a list read back, written again, reads back otherwise (%v):\n%s\n%s", err, out, out2)
		}
	})
}
